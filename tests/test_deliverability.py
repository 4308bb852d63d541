"""What reaches a reader's provider: DKIM signatures that verify (dkimpy, with the test answering
the DNS query), a From that passes DMARC, and no header that leaks or breaks on the way."""
from __future__ import annotations

import email.utils
import json
import re
from pathlib import Path

import dkim
import pytest

from conftest import DOMAIN, Env, mail, text_of
from mailhub.config import ConfigError, parse_config

DATA = Path(__file__).parent / "data" / "dkim"
KEY = DATA / "test-private.pem"  # made for these tests only; the public half is test-record.txt
RECORD = (DATA / "test-record.txt").read_bytes().strip()
SELECTOR = "mh2026"
POST = f"mentors@{DOMAIN}"
REQUEST = f"mentors-request@{DOMAIN}"
ANN, CEM, BEA = "ann@example.com", "cem@example.com", "bea@example.com"


def dns(name: bytes, timeout: int = 5) -> bytes | None:
    """The TXT record a resolver would return: only at the selector's name."""
    return RECORD if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None


def verifies(data: bytes) -> bool:
    return dkim.verify(data, dnsfunc=dns)


def signatures(data: bytes) -> list[dict[str, str]]:
    msg = email.message_from_bytes(data)
    found = []
    for value in msg.get_all("DKIM-Signature") or []:
        tags = dict(t.strip().split("=", 1) for t in re.sub(r"\s+", "", value).split(";") if "=" in t)
        found.append(tags)
    return found


@pytest.fixture
def signing_env(tmp_path: Path, sink) -> Env:
    e = Env(tmp_path, sink.port, extra=f'\n[dkim]\ndomain = "{DOMAIN}"\nselector = "{SELECTOR}"\n'
                                       f'private_key = "{KEY}"\n')
    yield e
    e.stop()


AUTHOR_SIGNED = mail(subject="Pricing", body="How do I price my baskets?", headers=(
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1; h=from:subject;\r\n"
    " bh=AAAA; b=BBBB\r\n"))


def test_copies_answers_and_digests_are_signed_and_verify(signing_env, sink):
    env = signing_env
    env.group("mentors", ANN, CEM, BEA)
    env.cli("member", "set", "mentors", BEA, "--delivery", "weekly")
    env.start()
    env.send(AUTHOR_SIGNED, [POST])
    copy = sink.wait(CEM) and sink.to(CEM)[0].data
    assert verifies(copy)
    [sig] = signatures(copy)  # the author's signature, broken by the footer, is gone
    assert sig["d"] == DOMAIN and sig["s"] == SELECTOR and sig["c"] == "relaxed/relaxed"
    signed = sig["h"].lower().split(":")
    for name in ("from", "to", "subject", "date", "message-id", "list-id", "list-post", "list-help", "reply-to"):
        assert name in signed, name
    # A changed signed header fails: the check above could have said no.
    assert not verifies(copy.replace(b"Subject: [mentors] Pricing", b"Subject: [mentors] Prizes"))
    # The body is Cem's own (his relay address to Ann in the footer), and the signature covers it.
    token = re.search(rb"mentors\+p-([a-z2-7]{32})@", copy).group(1)
    assert not verifies(copy.replace(token, token[::-1]))

    env.send(mail(subject="help", body="help", sender=CEM, to=REQUEST), [REQUEST], mail_from=CEM)
    answer = sink.wait(CEM, 2) and sink.to(CEM)[1].data
    assert b"How to use mentors by mail" in answer and verifies(answer)
    assert "list-unsubscribe" not in signatures(answer)[0]["h"].lower()  # an answer has none

    env.cli("digest", "send", "mentors", "--period", "weekly")
    digest = sink.wait(BEA) and sink.to(BEA)[0].data
    assert b"Weekly digest" in digest and verifies(digest)
    assert "list-unsubscribe" in signatures(digest)[0]["h"].lower().split(":")  # a digest is one reader's


def test_a_mail_that_cannot_be_signed_goes_unsigned_and_the_rest_signed(signing_env, sink):
    """Signing happens as each mail is sent (on another core than the one building the next). A
    mail it cannot sign, here one without a From that the site's postmaster is to get, still goes,
    unsigned, while the copies of a post beside it are signed."""
    env = signing_env
    env.edit_config(lambda text: text.replace("[server]\n", '[server]\npostmaster = "desk@example.net"\n', 1))
    env.group("mentors", ANN, CEM)
    env.start()
    env.send(b"To: postmaster@" + DOMAIN.encode() + b"\r\nSubject: no sender named\r\n\r\nHello\r\n",
             [f"postmaster@{DOMAIN}"])
    env.send(mail(subject="Signed anyway"), [POST])
    assert verifies(sink.wait(CEM) and sink.to(CEM)[0].data)
    forwarded = sink.wait("desk@example.net") and sink.to("desk@example.net")[0].data
    assert b"no sender named" in forwarded and not signatures(forwarded)
    assert json.loads(env.cli("queue", "--json").output)["counts"] == {"pending": 0, "sent": 2, "failed": 0}


def test_without_dkim_settings_nothing_is_signed(env, sink):
    env.group("mentors", ANN, CEM)
    env.start()
    env.send(AUTHOR_SIGNED, [POST])
    sink.wait(CEM)
    assert signatures(sink.to(CEM)[0].data) == []


def test_dkim_settings_are_checked_when_the_config_loads(tmp_path):
    base = {"server": {"domain": DOMAIN}, "database": {"url": "sqlite:///m.db"}, "relay": {"maildir": "out"}}
    with pytest.raises(ConfigError, match=r"needs 'dkim.selector' and 'dkim.private_key' too"):
        parse_config({**base, "dkim": {"domain": DOMAIN}}, tmp_path)
    with pytest.raises(ConfigError, match=r"'dkim.private_key': cannot read .*missing.pem"):
        parse_config({**base, "dkim": {"domain": DOMAIN, "selector": "s", "private_key": "missing.pem"}}, tmp_path)
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ConfigError, match=r"bad.pem is not an RSA private key in PEM form"):
        parse_config({**base, "dkim": {"domain": DOMAIN, "selector": "s", "private_key": "bad.pem"}}, tmp_path)
    config = parse_config({**base, "dkim": {"domain": DOMAIN.upper(), "selector": "s", "private_key": str(KEY)}},
                          tmp_path)
    assert config.dkim.domain == DOMAIN


LEAKY = mail(subject="Visit", sender="Ann Wanjiru <ann@example.com>", message_id="<visit-1@example.com>", headers=(
    "Bcc: secret-friend@example.net\r\nReturn-Path: <ann@example.com>\r\nX-Original-To: mentors@lists.example.org\r\n"
    "Disposition-Notification-To: ann@example.com\r\nIn-Reply-To: <earlier@example.com>\r\n"
    "References: <start@example.com> <earlier@example.com>\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; h=from; bh=AAAA; b=BBBB\r\n"))


def test_copies_carry_no_private_headers_and_keep_the_threading_ones(env, sink):
    env.group("mentors", ANN, CEM)
    env.start()
    env.send(LEAKY, [POST])
    [copy] = sink.wait(CEM)
    for name in ("Bcc", "Return-Path", "X-Original-To", "Disposition-Notification-To", "DKIM-Signature"):
        assert name not in copy, name
    assert b"secret-friend" not in sink.to(CEM)[0].data
    assert copy["Message-ID"] == "<visit-1@example.com>"
    assert copy["In-Reply-To"] == "<earlier@example.com>"
    assert copy["References"] == "<start@example.com> <earlier@example.com>"
    assert copy["Date"] == "Mon, 23 Nov 2026 10:00:00 +0000"

    env.send(mail(subject="help", body="help", sender=CEM, to=REQUEST), [REQUEST], mail_from=CEM)
    answer = sink.wait(CEM, 2)[1]
    assert answer["Auto-Submitted"] == "auto-generated" and answer["X-Auto-Response-Suppress"] == "All"


def test_from_is_rewritten_by_default_and_the_author_offered_for_a_private_reply(env, sink):
    env.group("mentors", ANN, CEM, addresses="shown")  # hidden: see test_addresses_hidden.py
    assert "from_rewrite: always" in env.cli("group", "show", "mentors").output
    env.start()
    env.send(LEAKY, [POST])
    [copy] = sink.wait(CEM)
    assert email.utils.parseaddr(copy["From"]) == ("Ann Wanjiru via mentors", POST)
    assert copy["X-Original-From"] == "Ann Wanjiru <ann@example.com>"
    assert "Write to Ann Wanjiru privately: ann@example.com" in text_of(copy)


def test_from_rewrite_never_keeps_the_authors_from(env, sink):
    env.group("mentors", ANN, CEM, addresses="shown")  # a group that hides addresses rewrites From anyway
    result = env.cli("group", "set", "mentors", "--from-rewrite", "sometimes", ok=False)
    assert result.exit_code == 2 and "--from-rewrite takes always or never, not 'sometimes'" in result.output
    env.cli("group", "set", "mentors", "--from-rewrite", "never")
    assert "from_rewrite: never" in env.cli("group", "show", "mentors").output
    env.start()
    env.send(LEAKY, [POST])
    [copy] = sink.wait(CEM)
    assert copy["From"] == "Ann Wanjiru <ann@example.com>" and "X-Original-From" not in copy
    assert copy["Reply-To"].startswith("<mentors+")  # replies still go to the topic
