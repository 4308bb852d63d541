"""`mailhub check`: a ready installation passes with exit 0; each thing that would stop mail (relay
down, a wrong relay password, a bad DKIM key, the port taken) is one FAIL line saying what to do,
and exit 1. The DKIM record it prints is the real public half of the configured key."""
from __future__ import annotations

import email.utils
import json
import re
import shutil
import socket
from pathlib import Path
from typing import Iterator

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from conftest import DOMAIN, Env, Sink, free_port, mail
from mailhub.check import public_key, records
from mailhub.cli import app
from mailhub.config import load_config
from mailhub.signing import Signer
from reliability.test_relay_trouble import TLSRelay, tls_relay  # noqa: F401 - the fixture, shared

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
TEST_KEY = Path(__file__).parent / "data" / "dkim" / "test-private.pem"
TEST_RECORD = (Path(__file__).parent / "data" / "dkim" / "test-record.txt").read_text().strip()


def check(path: Path, *args: str):  # noqa: ANN201
    return CliRunner().invoke(app, ["check", *args, "--config", str(path)])


def lines(output: str) -> dict[str, str]:
    """Check name -> its whole line, from the ok/FAIL lines of the output."""
    found = {}
    for line in output.splitlines():
        m = re.match(r"(ok  |FAIL) (\w+): ", line)
        if m:
            found[m.group(2)] = line
    return found


def failed(output: str) -> dict[str, str]:
    return {name: line for name, line in lines(output).items() if line.startswith("FAIL")}


def with_relay(env: Env, settings: str) -> Env:
    env.edit_config(lambda text: text.replace("[relay]\n", f"[relay]\n{settings}\n"))
    return env


# ---- healthy ------------------------------------------------------------------------------------

def test_the_shipped_config_passes_and_check_creates_nothing(tmp_path: Path):
    config = tmp_path / "config.toml"
    shutil.copy(REPO_CONFIG, config)
    config.write_text(config.read_text().replace("port = 8025", f"port = {free_port()}"))
    result = check(config)
    assert result.exit_code == 0, result.output
    assert set(lines(result.output)) == {"config", "templates", "database", "listener", "tls", "relay", "dkim"}
    assert not failed(result.output)
    assert "will be created on first start" in lines(result.output)["database"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no database, no folders
    assert "IN MX 10 lists.example.org." in result.output
    assert '_dmarc.lists.example.org. IN TXT "v=DMARC1; p=none"' in result.output


def test_a_running_service_with_a_relay_passes(env: Env, sink: Sink):
    env.group("mentors", "ann@example.com")
    env.start()
    result = check(env.path)
    assert result.exit_code == 0, result.output
    found = lines(result.output)
    assert "in use by a running mailhub" in found["listener"]
    assert "at the current schema" in found["database"]
    assert f"relay 127.0.0.1:{sink.port} answered" in found["relay"]
    assert sink.count() == 0  # nothing was sent
    # A relay on 127.0.0.1 is this host's MTA, which the MX names; DMARC reports go to a group's owners.
    assert f'{DOMAIN}. IN TXT "v=spf1 mx ~all"' in result.output
    assert f"rua=mailto:mentors-owner@{DOMAIN}" in result.output


def test_json_lists_every_check_and_record(env: Env):
    doc = json.loads(check(env.path, "--json").output)
    assert doc["ok"] is True
    assert [c["name"] for c in doc["checks"]] == ["config", "templates", "database", "listener", "tls", "relay",
                                                  "dkim"]
    assert {(r["name"], r["type"]) for r in doc["records"]} == {
        (f"{DOMAIN}.", "MX"), (f"{DOMAIN}.", "TXT"), (f"_dmarc.{DOMAIN}.", "TXT")}


# ---- failures -----------------------------------------------------------------------------------

def test_a_relay_that_is_down_fails(tmp_path: Path):
    env = Env(tmp_path, free_port())  # nothing listens there
    result = check(env.path)
    assert result.exit_code == 1
    assert failed(result.output).keys() == {"relay"}
    assert "Connection refused" in failed(result.output)["relay"]
    assert "check 'relay.host' and 'relay.port'" in failed(result.output)["relay"]
    assert json.loads(check(env.path, "--json").output)["ok"] is False


@pytest.fixture
def strict_relay(tls_relay: TLSRelay) -> Iterator[int]:  # noqa: F811 - asks for the imported fixture
    """The relay of the relay-trouble tests: STARTTLS first, then only mailhub / s3cret may relay."""
    yield tls_relay.port
    assert tls_relay.handler.received == []  # no check ever sends a mail


def test_a_wrong_relay_password_fails_with_the_relays_answer(tmp_path: Path, strict_relay: int):
    env = with_relay(Env(tmp_path, strict_relay), 'starttls = true\nusername = "mailhub"\npassword = "wrong"')
    result = check(env.path)
    assert result.exit_code == 1
    line = failed(result.output)["relay"]
    assert "refused the login as 'mailhub': 535" in line
    assert "check 'relay.username' and 'relay.password'" in line


def test_the_right_relay_password_passes(tmp_path: Path, strict_relay: int):
    env = with_relay(Env(tmp_path, strict_relay), 'starttls = true\nusername = "mailhub"\npassword = "s3cret"')
    result = check(env.path)
    assert result.exit_code == 0, result.output
    assert "(STARTTLS, login as mailhub)" in lines(result.output)["relay"]


def test_a_relay_that_wants_a_login_we_do_not_give_fails(tmp_path: Path, strict_relay: int):
    env = with_relay(Env(tmp_path, strict_relay), "starttls = true")
    result = check(env.path)
    assert result.exit_code == 1
    line = failed(result.output)["relay"]
    assert f"refused MAIL FROM:<mailhub-check@{DOMAIN}>: 530" in line
    assert "give 'relay.username' and 'relay.password'" in line


def test_an_unreadable_dkim_key_fails_naming_the_key(tmp_path: Path, sink: Sink):
    bad = tmp_path / "dkim.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    env = Env(tmp_path, sink.port)
    env.path.write_text(env.path.read_text() + f'\n[dkim]\ndomain = "{DOMAIN}"\nselector = "s1"\n'
                                                f'private_key = "{bad}"\n')
    result = check(env.path)
    assert result.exit_code == 1
    assert "'dkim.private_key'" in failed(result.output)["config"]
    assert "is not an RSA private key" in failed(result.output)["config"]
    bad.unlink()
    assert "No such file or directory" in failed(check(env.path).output)["config"]


def test_a_port_held_by_another_program_fails(tmp_path: Path, sink: Sink):
    env = Env(tmp_path, free_port())
    env.edit_config(lambda text: text.replace(f"port = {env.port}", f"port = {sink.port}", 1))
    result = check(env.path)
    assert result.exit_code == 1
    line = failed(result.output)["listener"]
    assert f"127.0.0.1:{sink.port} is in use by another program (it greets: 220 " in line
    assert "change 'server.port'" in line


def test_a_missing_templates_folder_fails(env: Env):
    env.path.write_text('templates = "nowhere"\n' + env.path.read_text())
    result = check(env.path)
    assert result.exit_code == 1
    assert f"no mail templates in {env.path.parent / 'nowhere'}" in failed(result.output)["templates"]


def test_a_database_url_that_is_none_fails(env: Env):
    env.path.write_text(env.path.read_text().replace('url = "sqlite:///mailhub.db"', 'url = "mailhub.db"'))
    result = check(env.path)
    assert result.exit_code == 1
    assert "'database.url' is not a database URL" in failed(result.output)["database"]


def test_a_file_that_is_no_database_fails(env: Env):
    (env.path.parent / "mailhub.db").write_bytes(b"this is not SQLite\n" * 100)
    result = check(env.path)
    assert result.exit_code == 1
    assert "file is not a database" in failed(result.output)["database"]


# ---- the DKIM record ----------------------------------------------------------------------------

def fresh_key(path: Path) -> Path:
    """A new 2048-bit key in PKCS#8 (what openssl 3 writes), unlike the PKCS#1 test key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def printed_record(output: str, name: str) -> bytes:
    """The TXT record's text from the zone-file line, its quoted pieces joined as a resolver does."""
    line = next(line for line in output.splitlines() if line.startswith(name + " IN TXT "))
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', line)).encode()


@pytest.mark.parametrize("key", ["test", "fresh"])
def test_the_printed_dkim_record_verifies_what_mailhub_signs(tmp_path: Path, sink: Sink, key: str):
    path = TEST_KEY if key == "test" else fresh_key(tmp_path / "dkim.pem")
    env = Env(tmp_path, sink.port, extra=f'\n[dkim]\ndomain = "{DOMAIN}"\nselector = "mh1"\nprivate_key = "{path}"\n')
    result = check(env.path)
    assert result.exit_code == 0, result.output
    name = f"mh1._domainkey.{DOMAIN}."
    record = printed_record(result.output, name)
    assert record.startswith(b"v=DKIM1; k=rsa; p=")

    def dns(qname: bytes, timeout: int = 5) -> bytes | None:
        return record if qname == name.encode() else None

    signer = Signer.from_config(load_config(env.path).dkim)
    assert signer is not None
    signed = signer.sign(mail(subject="Signed", sender=f"mentors@{DOMAIN}").replace(
        b"Date: Mon", f"X-Sent: {email.utils.formatdate()}\r\nDate: Mon".encode()))
    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(signed.replace(b"Hi all", b"Hi you"), dnsfunc=dns)  # the record is what decides
    if key == "test":  # the record published for the test key, made with openssl
        assert record.decode().split("p=")[1] == TEST_RECORD.split("p=")[1].strip()


def test_another_keys_record_does_not_verify(tmp_path: Path):
    signed = Signer(DOMAIN, "mh1", TEST_KEY.read_bytes()).sign(mail(subject="Signed"))
    other = public_key(fresh_key(tmp_path / "other.pem").read_bytes())
    assert not dkim.verify(signed, dnsfunc=lambda *_a, **_k: f"v=DKIM1; k=rsa; p={other.p}".encode())
    own = public_key(TEST_KEY.read_bytes())
    assert own.bits == 2048
    assert dkim.verify(signed, dnsfunc=lambda *_a, **_k: f"v=DKIM1; k=rsa; p={own.p}".encode())


@pytest.mark.parametrize("host, spf", [
    ("127.0.0.1", "v=spf1 mx ~all"),  # the MTA on this host sends, the one the MX names
    ("smtp.example.net", "v=spf1 a:smtp.example.net ~all"),
    ("93.184.215.14", "v=spf1 ip4:93.184.215.14 ~all"),
    ("2a00:1450:4001:81c::25", "v=spf1 ip6:2a00:1450:4001:81c::25 ~all"),
    ("10.0.0.25", "v=spf1 mx ~all"),  # on a private network: its public address is not known here
])
def test_spf_names_the_relay_mail_leaves_through(tmp_path: Path, host: str, spf: str):
    env = Env(tmp_path, 25)
    env.edit_config(lambda text: text.replace('[relay]\nhost = "127.0.0.1"', f'[relay]\nhost = "{host}"'))
    assert [r.data for r in records(env.config) if r.data.startswith("v=spf1")] == [spf]


def test_a_relay_that_never_answers_fails_after_its_timeout(tmp_path: Path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # takes the connection, never greets
    try:
        env = Env(tmp_path, sock.getsockname()[1])
        env.edit_config(lambda text: text.replace("timeout = 5", "timeout = 0.5"))
        result = check(env.path)
    finally:
        sock.close()
    assert result.exit_code == 1
    assert "timed out" in failed(result.output)["relay"]
