"""One-click unsubscribe (RFC 8058) and links that save a reply, as they reach the reader: every
copy and digest names the member's own https link first and their mailto second, says it takes a
one-click POST, and carries both under a DKIM signature that verifies (Gmail's and Yahoo's rule
for bulk senders); join, leave and held-post notices carry a link to their pending Token. Without
[web] the mail is what it always was. The web listener may or may not answer: these tests read
the mail only."""
from __future__ import annotations

import re
from pathlib import Path

import dkim
import pytest
from sqlmodel import Session, select

from conftest import DOMAIN, Env, free_port, mail, text_of
from mailhub import links
from mailhub.db import make_engine
from mailhub.models import Member, Token
from mailhub.signing import Signer, read_private_key
from test_deliverability import KEY, SELECTOR, dns, signatures

POST = f"mentors@{DOMAIN}"
JOIN = f"mentors-join@{DOMAIN}"
LEAVE = f"mentors-leave@{DOMAIN}"
ANN, CEM, DEE = "ann@example.com", "cem@example.com", "dee@example.com"
BEA = "bea@example.com"  # reads a weekly digest
BASE = "https://lists.example.org"
ONE_CLICK = "List-Unsubscribe=One-Click"


def web(extra: str = "") -> str:
    return f'\n[web]\nlisten = "127.0.0.1:{free_port()}"\nbase_url = "{BASE}"\n{extra}'


DKIM = f'\n[dkim]\ndomain = "{DOMAIN}"\nselector = "{SELECTOR}"\nprivate_key = "{KEY}"\n'


@pytest.fixture
def web_env(tmp_path: Path, sink) -> Env:
    e = Env(tmp_path, sink.port, extra=web())
    yield e
    e.stop()


@pytest.fixture
def signed_web_env(tmp_path: Path, sink) -> Env:
    e = Env(tmp_path, sink.port, extra=web() + DKIM)
    yield e
    e.stop()


def unfolded(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value)


def body(msg) -> str:  # noqa: ANN001
    return text_of(msg).replace("\r\n", "\n")


def member(env: Env, address: str) -> Member:
    with Session(make_engine(env.config.database.url)) as s:
        return s.exec(select(Member).where(Member.email == address)).one()


def token(env: Env, purpose: str) -> Token:
    with Session(make_engine(env.config.database.url)) as s:
        return s.exec(select(Token).where(Token.purpose == purpose)).one()


def link(env: Env, kind: str, row_id: int, nonce: str) -> str:
    with Session(make_engine(env.config.database.url)) as s:
        found = links.url(env.config, links.site_secret(s), kind, row_id, nonce)
    assert found is not None and found.startswith(f"{BASE}/{kind}/")
    return found


def unsubscribe_of(env: Env, address: str) -> str:
    """What a member's List-Unsubscribe must say: their https link first, then their mailto."""
    m = member(env, address)
    return (f"<{link(env, links.UNSUBSCRIBE, m.id, m.token)}>, "
            f"<mailto:mentors-leave+{m.token}@{DOMAIN}?subject=unsubscribe>")


def post_and_digest(env: Env, sink) -> tuple[bytes, bytes, bytes]:  # noqa: ANN001
    """Ann posts; the raw copies cem and dee get, and the weekly digest bea gets."""
    env.group("mentors", ANN, CEM, DEE, BEA)
    env.cli("member", "set", "mentors", BEA, "--delivery", "weekly")
    env.start()
    env.send(mail(subject="Pricing", body="How do I price my baskets?"), [POST])
    sink.wait(CEM)
    sink.wait(DEE)
    env.cli("digest", "send", "mentors", "--period", "weekly")
    sink.wait(BEA)
    return sink.to(CEM)[0].data, sink.to(DEE)[0].data, sink.to(BEA)[0].data


def test_copies_and_digests_carry_the_members_one_click_link_first(web_env, sink):
    copy, dee_copy, digest = post_and_digest(web_env, sink)
    for address, data in ((CEM, copy), (DEE, dee_copy), (BEA, digest)):
        msg = sink.to(address)[0].message
        assert unfolded(msg["List-Unsubscribe"]) == unsubscribe_of(web_env, address), address
        assert msg.get_all("List-Unsubscribe-Post") == [ONE_CLICK]
        assert len(msg.get_all("List-Unsubscribe")) == 1
        assert max(len(line) for line in data.split(b"\r\n")[:40]) <= 998
    assert b"Weekly digest" in digest
    # Each member's own: a link is no key to anyone else's membership.
    assert unsubscribe_of(web_env, CEM) != unsubscribe_of(web_env, DEE)


def test_without_web_copies_and_digests_have_the_mailto_alone(env, sink):
    post_and_digest(env, sink)
    for address in (CEM, BEA):
        msg = sink.to(address)[0].message
        m = member(env, address)
        assert msg["List-Unsubscribe"] == f"<mailto:mentors-leave+{m.token}@{DOMAIN}?subject=unsubscribe>"
        assert "List-Unsubscribe-Post" not in msg
        assert "https://" not in msg["List-Unsubscribe"]


def test_dkim_signature_covers_one_click_headers_of_each_copy_and_digest(signed_web_env, sink):
    copy, dee_copy, digest = post_and_digest(signed_web_env, sink)
    for data in (copy, dee_copy, digest):
        assert dkim.verify(data, dnsfunc=dns)
        [sig] = signatures(data)
        assert sig["a"] == "rsa-sha256" and sig["c"] == "relaxed/relaxed" and sig["d"] == DOMAIN
        signed = sig["h"].lower().split(":")
        for name in ("from", "list-id", "list-unsubscribe", "list-unsubscribe-post"):
            assert name in signed, name
    # One signature each. In a group that hides addresses, each reader's body holds their own
    # relay address to the author, so the body hashes differ too, and the bodies in nothing else.
    assert signatures(copy)[0]["b"] != signatures(dee_copy)[0]["b"]
    assert signatures(copy)[0]["bh"] != signatures(dee_copy)[0]["bh"]
    relay = re.compile(rb"\+p-[a-z2-7]{32}@")
    assert relay.sub(b"", copy.partition(b"\r\n\r\n")[2]) == relay.sub(b"", dee_copy.partition(b"\r\n\r\n")[2])
    # Moving someone else's one-click link into a copy breaks its signature.
    cem, dee = (member(signed_web_env, a) for a in (CEM, DEE))
    swapped = copy.replace(f"/u/{cem.id}-".encode(), f"/u/{dee.id}-".encode())
    assert swapped != copy and not dkim.verify(swapped, dnsfunc=dns)
    assert not dkim.verify(copy.replace(ONE_CLICK.encode(), b"List-Unsubscribe=Two-Clicks"), dnsfunc=dns)


def test_dkim_without_web_still_signs_each_copys_list_unsubscribe(tmp_path, sink):
    env = Env(tmp_path, sink.port, extra=DKIM)
    try:
        copy, _, digest = post_and_digest(env, sink)
    finally:
        env.stop()
    for data in (copy, digest):
        assert dkim.verify(data, dnsfunc=dns)
        signed = signatures(data)[0]["h"].lower().split(":")
        assert "list-unsubscribe" in signed and "list-id" in signed and "list-unsubscribe-post" not in signed


AWKWARD = [
    b"From: Ann <ann@example.com>\r\nSubject:  spaced   out \r\n\tand folded\r\nTo: a@b\r\nTo: c@d\r\n\r\n"
    b"trailing spaces  \t\r\ninner   runs\r\n\r\n\r\n",
    b"From: a@example.com\r\nSubject: empty body\r\n\r\n",
    b"From: a@example.com\r\nSubject: only blank lines\r\n\r\n\r\n\r\n",
    b"From: a@example.com\nSubject: bare line feeds\n\nas some tools write\n",
]


@pytest.mark.parametrize("data", AWKWARD)
def test_signer_canonicalizes_like_a_verifier(data):
    signer = Signer(DOMAIN, SELECTOR, read_private_key(KEY))
    signed = signer.sign(data)
    assert signed.startswith(b"DKIM-Signature:") and dkim.verify(signed, dnsfunc=dns)
    assert max(len(line) for line in signed.split(b"\r\n")) <= 78


def test_join_and_leave_confirmations_link_to_their_token(web_env, sink):
    env = web_env
    env.group("mentors", BEA)
    env.start()
    env.send(mail(sender="dee@example.com", to=JOIN, subject="join", body=""), [JOIN], mail_from="dee@example.com")
    confirm = sink.wait("dee@example.com")[0]
    pending = token(env, "join")
    url = link(env, links.CONFIRM, pending.id, pending.token)
    # Right after the reply instruction, on a line of its own (a phone makes it a link).
    said = body(confirm)
    assert f"You do not need to write anything.\nOr open this link to join:\n{url}\n\nOr send a mail to:" in said
    # Replying still works, exactly as before.
    env.reply(confirm, "", "dee@example.com", quote=False)
    assert sink.wait("dee@example.com", 2)[1]["Subject"] == "Welcome to mentors"

    env.send(mail(sender="dee@example.com", to=LEAVE, subject="leave", body=""), [LEAVE], mail_from="dee@example.com")
    confirm_leave = sink.wait("dee@example.com", 3)[2]
    pending = token(env, "leave")
    url = link(env, links.CONFIRM, pending.id, pending.token)
    assert f"You do not need to write anything.\nOr open this link to leave:\n{url}\n" in body(confirm_leave)


def test_held_notice_links_to_its_moderate_token(web_env, sink):
    env = web_env
    env.group("mentors", ANN)
    env.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
    env.start()
    env.send(mail(sender="zed@example.net", subject="Funding question"), [POST], mail_from="zed@example.net")
    notice = sink.wait("mod@example.com")[0]
    pending = token(env, "moderate")
    url = link(env, links.MODERATE, pending.id, pending.token)
    assert f"(spam)\n\nOr open this link to decide:\n{url}\n\n---- the post" in body(notice)
    env.reply(notice, "approve", "mod@example.com")
    assert sink.wait(ANN)[0]["Subject"] == "[mentors] Funding question"


def test_without_web_notices_carry_no_link(env, sink):
    env.group("mentors", ANN)
    env.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
    env.start()
    env.send(mail(sender="dee@example.com", to=JOIN, subject="join", body=""), [JOIN], mail_from="dee@example.com")
    confirm = body(sink.wait("dee@example.com")[0])
    assert "You do not need to write anything.\n\nOr send a mail to:" in confirm and "link" not in confirm
    env.send(mail(sender="zed@example.net", subject="Funding question"), [POST], mail_from="zed@example.net")
    notice = body(sink.wait("mod@example.com")[0])
    assert "(spam)\n\n---- the post" in notice and "https://" not in notice
