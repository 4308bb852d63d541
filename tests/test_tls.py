"""STARTTLS on the listener, with a certificate made by the test (trustme): offered when
[server] tls_cert/tls_key are set, required with require_tls, and a bad pair stops at start."""
from __future__ import annotations

import smtplib
import ssl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import trustme

from conftest import DOMAIN, Env, mail
from mailhub.config import ConfigError, parse_config

POST = f"mentors@{DOMAIN}"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@contextmanager
def serving(tmp_path: Path, sink, ca: trustme.CA, require: bool) -> Iterator[Env]:
    """mailhub with a certificate from `ca`, a group of two, running."""
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    env = Env(tmp_path, sink.port)
    env.edit_config(lambda text: text.replace("[database]", 'tls_cert = "cert.pem"\ntls_key = "key.pem"\n'
                                              f"require_tls = {'true' if require else 'false'}\n\n[database]"))
    try:
        env.group("mentors", "ann@example.com", "bob@example.com")
        env.start()
        yield env
    finally:
        env.stop()


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_starttls_is_offered_and_mail_sent_over_it_is_posted(tmp_path, sink, ca):
    with serving(tmp_path, sink, ca, require=False) as env:
        with smtplib.SMTP("127.0.0.1", env.port, timeout=10) as smtp:
            smtp.ehlo("client.example.com")
            assert smtp.has_extn("starttls")
            code, _ = smtp.starttls(context=client_context(ca))
            assert code == 220
            smtp.ehlo("client.example.com")
            assert not smtp.has_extn("starttls")  # once is enough
            smtp.sendmail("ann@example.com", [POST], mail(subject="Over TLS"))
        assert sink.wait("bob@example.com")[0]["Subject"] == "[mentors] Over TLS"
        # Without require_tls, a client that does not STARTTLS still gets through.
        env.send(mail(subject="In the clear"), [POST])
        assert sink.wait("bob@example.com", 2)[1]["Subject"] == "[mentors] In the clear"


def test_require_tls_refuses_mail_in_the_clear(tmp_path, sink, ca):
    with serving(tmp_path, sink, ca, require=True) as env:
        with smtplib.SMTP("127.0.0.1", env.port, timeout=10) as smtp:
            smtp.ehlo("client.example.com")
            code, text = smtp.mail("ann@example.com")
            assert code == 530 and b"STARTTLS" in text
            smtp.starttls(context=client_context(ca))
            smtp.ehlo("client.example.com")
            smtp.sendmail("ann@example.com", [POST], mail(subject="Now secure"))
        assert sink.wait("bob@example.com")[0]["Subject"] == "[mentors] Now secure"


def test_tls_settings_are_checked_when_the_config_loads(tmp_path, ca):
    base = {"database": {"url": "sqlite:///m.db"}, "relay": {"maildir": "out"}}

    def server(**tls: object) -> dict:
        return {**base, "server": {"domain": DOMAIN, **tls}}

    with pytest.raises(ConfigError, match="needs both 'server.tls_cert' and 'server.tls_key'"):
        parse_config(server(tls_cert="cert.pem"), tmp_path)
    with pytest.raises(ConfigError, match="'server.require_tls' needs 'server.tls_cert'"):
        parse_config(server(require_tls=True), tmp_path)
    with pytest.raises(ConfigError, match="cannot read .*cert.pem"):
        parse_config(server(tls_cert="cert.pem", tls_key="key.pem"), tmp_path)
    other = ca.issue_cert("localhost")
    ca.issue_cert("localhost").cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    other.private_key_pem.write_to_path(str(tmp_path / "key.pem"))  # the key of another certificate
    with pytest.raises(ConfigError, match="are not a PEM certificate and its key"):
        parse_config(server(tls_cert="cert.pem", tls_key="key.pem"), tmp_path)
