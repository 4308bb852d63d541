"""Copies, digests and notices keep every line within RFC 5322's 998 bytes, however long the
author's lines are once decoded (issue 17): the sink is aiosmtpd, which like a strict relay
answers "500 Line too long" to a longer line, and each test also measures every line itself.
A relay that refuses a mail for its form is mailhub's fault, never a bounce of the member."""
from __future__ import annotations

import base64
import binascii
import email.utils
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import DOMAIN, Env, Sink, mail, text_of, wait_for
from mailhub.db import make_engine
from mailhub.deliver import REFUSED_FORM
from mailhub.digest_jobs import queue_digests
from mailhub.models import utcnow
from mailhub.config import RelayConfig
from mailhub.transport import DeliveryError, SMTPTransport, names_the_form
from reliability.served import serving
from test_bounces import member
from test_logs import events, named

POST = f"mentors@{DOMAIN}"
ANN, BEA, CEM = "ann@example.com", "bea@example.com", "cem@example.com"  # cem asked for plain text
# One paragraph as Outlook and phones send it: a single line of 1,500 characters. ASCII, as
# most is: text with other letters always went out quoted-printable or base64.
LINE = ("Outlook and phones send a whole paragraph as one line, even in plain English. " * 25)[:1499] + "!"
assert len(LINE) == 1500


def qp(text: str) -> str:
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii").replace("\n", "\r\n")


def b64(text: str) -> str:
    return base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n")


def post(subject: str, body: str, content_type: str = "text/plain; charset=utf-8",
         encoding: str = "quoted-printable", headers: str = "") -> bytes:
    return mail(subject=subject, body=body, headers=f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
                f"Content-Transfer-Encoding: {encoding}\r\n{headers}")


def longest_line(data: bytes) -> int:
    """Bytes in the longest line, line ends (CRLF, or a bare LF a relay also ends lines at) left out."""
    return max(len(line.rstrip(b"\r")) for line in data.split(b"\n"))


def received(sink: Sink, address: str, subject: str) -> bytes:
    """The raw bytes of the mail to `address` whose subject has `subject`, once it came."""
    def found() -> bytes | None:
        return next((r.data for r in sink.to(address) if subject in str(r.message["Subject"])), None)
    return wait_for(found, what=f"{subject!r} to {address}")  # type: ignore[return-value]


def html_of(data: bytes) -> str:
    part = next(p for p in email.message_from_bytes(data).walk() if p.get_content_type() == "text/html")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def start(env: Env) -> None:
    env.group("mentors", ANN, BEA, CEM)
    env.cli("member", "set", "mentors", CEM, "--plain", "on")
    env.start()


# ---- copies ------------------------------------------------------------------------------------

def test_a_quoted_printable_post_with_a_1500_character_line_reaches_everyone_whole(env: Env, sink: Sink):
    start(env)
    env.send(post("One long paragraph", qp(f"Hello all,\n\n{LINE}\n\nAnn")), [POST])
    for member_address in (BEA, CEM):  # the author gets no copy of her own post
        data = received(sink, member_address, "One long paragraph")
        assert longest_line(data) <= 998, member_address
        copy = email.message_from_bytes(data)
        text = text_of(copy)
        assert LINE in text and "Leave mentors" in text, member_address  # decoded, the line is whole again
    env.drained()
    assert json.loads(env.cli("queue", "--json").output)["counts"]["failed"] == 0


def test_base64_8bit_and_html_posts_with_long_lines_reach_everyone_whole(env: Env, sink: Sink):
    # A site may take longer lines in than relays take out (Postfix takes 2,048 by default).
    env.edit_config(lambda text: text.replace("max_message_size = 100000",
                                              "max_message_size = 100000\nmax_line_length = 4000"))
    start(env)
    alternative = ('--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
                   f"{LINE}\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
                   f"\r\n<p>{LINE}</p>\r\n--alt--")
    posts = {
        "In base64": post("In base64", b64(f"{LINE}\nAnn"), encoding="base64"),
        "In 8bit": post("In 8bit", f"{LINE}\r\nAnn", encoding="8bit"),
        "In HTML": post("In HTML", qp(f"<html><body><p>{LINE}</p></body></html>"), "text/html; charset=utf-8"),
        "Both in 8bit": mail(subject="Both in 8bit", body=alternative, headers=(
            'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="alt"\r\n')),
    }
    for data in posts.values():
        env.send(data, [POST])
    for subject in posts:
        for member_address in (BEA, CEM):
            data = received(sink, member_address, subject)
            assert longest_line(data) <= 998, (subject, member_address)
            copy = email.message_from_bytes(data)
            if member_address == BEA and "HTML" in subject:
                assert LINE in html_of(data), subject
            else:
                assert LINE in " ".join(text_of(copy).split()), (subject, member_address)
            if subject == "Both in 8bit" and member_address == BEA:
                assert LINE in html_of(data)


def test_mail_without_a_date_gets_the_time_it_arrived(env: Env, sink: Sink):
    start(env)
    undated = mail(subject="No date").replace(b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n", b"")
    assert b"Date:" not in undated
    sent_at = datetime.now(timezone.utc)
    env.send(undated, [POST])
    for member_address in (BEA, CEM):
        copy = email.message_from_bytes(received(sink, member_address, "No date"))
        assert len(copy.get_all("Date")) == 1
        date = email.utils.parsedate_to_datetime(copy["Date"])
        assert abs(date - sent_at) < timedelta(seconds=60), copy["Date"]
    env.send(mail(subject="Dated"), [POST])  # a mail with its own Date keeps it
    dated = email.message_from_bytes(received(sink, BEA, "Dated"))
    assert dated["Date"] == "Mon, 23 Nov 2026 10:00:00 +0000"


# ---- digests and notices -----------------------------------------------------------------------

def test_a_digest_a_held_post_notice_and_a_topic_by_mail_quote_a_long_line_in_short_ones(tmp_path: Path, sink: Sink):
    env = Env(tmp_path, sink.port, extra="[digest]\ncheck_every = 1\n")
    try:
        env.group("mentors", ANN, BEA)
        env.cli("member", "add", "mentors", "dee@example.com", "--delivery", "weekly")
        env.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
        env.start()
        env.send(post("Weekly news", qp(LINE)), [POST])
        copy = email.message_from_bytes(received(sink, BEA, "Weekly news"))

        # The digest: the post's start, in short lines.
        queue_digests(make_engine(env.config.database.url), env.config, now=utcnow() + timedelta(days=8))
        digest = received(sink, "dee@example.com", "digest")
        assert longest_line(digest) <= 998 and LINE[:100] in " ".join(text_of(email.message_from_bytes(digest)).split())

        # A post from outside the group, held: the moderators' notice quotes it.
        zed = "zed@example.net"
        env.send(post("From outside", qp(LINE)).replace(f"From: Ann <{ANN}>".encode(), f"From: {zed}".encode()),
                 [POST], mail_from=zed)
        notice = received(sink, "mod@example.com", "post to check")
        assert longest_line(notice) <= 998 and LINE in text_of(email.message_from_bytes(notice))

        # `get TOPIC` answers with the whole topic, the long line in it.
        key = email.utils.parseaddr(copy["Reply-To"])[1].split("+")[1].split("@")[0]
        request = f"mentors-request@{DOMAIN}"
        env.send(mail(subject="", body=f"get {key}", sender=BEA, to=request), [request], mail_from=BEA)
        topic = received(sink, BEA, "answer")
        assert longest_line(topic) <= 998 and LINE in text_of(email.message_from_bytes(topic))
    finally:
        env.stop()


# ---- a relay that refuses the mail itself -------------------------------------------------------

@pytest.mark.parametrize("answer, expected", [
    ("5.6.0 Message content rejected", True),
    ("5.6.7 Non-ASCII address", True),
    ("5.3.4 Message too big for system", True),
    ("5.1.1 <gone@example.com>: user unknown", False),
    ("5.3.0 Other mail system problem", False),
    ("Line too long", False),  # at RCPT: only a DATA answer names the mail without a code
])
def test_an_enhanced_status_code_names_the_form_or_the_address(answer: str, expected: bool):
    assert names_the_form(answer) is expected
    assert DeliveryError(f"550 {answer}", permanent=True, refused_recipient=True).refused_recipient
    refused = DeliveryError(f"550 {answer}", permanent=True, refused_recipient=True, refused_form=expected)
    assert refused.refused_recipient is not expected  # a bounce only when the address was refused


@pytest.mark.parametrize("answer, bounce", [("552 5.2.2 Mailbox full", True), ("550 5.1.1 No such user", True),
                                            ("554 5.6.0 Message content rejected", False),
                                            ("500 Line too long", False)])
def test_a_refusal_at_data_is_the_members_only_when_its_status_names_the_mailbox(sink: Sink, answer: str,
                                                                                   bounce: bool):
    """Each copy has one recipient, so a relay may refuse a full or gone mailbox at DATA too."""
    sink.handler.refuse_data[BEA] = answer
    relay = SMTPTransport(RelayConfig(host="127.0.0.1", port=sink.port, timeout=5), DOMAIN)
    try:
        with pytest.raises(DeliveryError) as refused:
            relay.send(f"mentors-bounces@{DOMAIN}", BEA, mail(subject="Hello"))
    finally:
        relay.close()
    assert (refused.value.refused_recipient, refused.value.refused_form) == (bounce, not bounce)


def test_a_relay_refusing_the_mail_at_data_fails_the_copy_without_a_bounce(tmp_path: Path, sink: Sink):
    dan, eve = "dan@example.com", "eve@example.com"
    sink.handler.refuse_data.update({BEA: "500 Line too long (see RFC5321 4.5.3.1.6)",
                                     CEM: "554 5.6.0 Message content rejected"})
    sink.handler.refuse[dan] = "552 5.3.4 Message size exceeds fixed limit"  # at RCPT, about the mail
    with serving(tmp_path, sink) as served:
        served.env.group("mentors", ANN, BEA, CEM, dan, eve)
        served.start()
        served.env.send(mail(subject="Refused", message_id="<refused-1@example.com>"), [POST])
        received(sink, eve, "Refused")
        queue = wait_for(lambda: (q := json.loads(served.env.cli("queue", "--json").output))["counts"]["failed"] == 3
                         and q, what="three copies failed")
        errors = {e["recipient"]: e for e in queue["errors"]}  # type: ignore[index]
        assert errors[BEA]["state"] == "failed" and errors[BEA]["attempts"] == 1
        assert errors[BEA]["error"].startswith("500 Line too long") and REFUSED_FORM in errors[BEA]["error"]
        assert errors[CEM]["error"].startswith("554 5.6.0 Message content rejected")
        assert errors[dan]["error"].startswith("552 5.3.4") and REFUSED_FORM in errors[dan]["error"]
        assert json.loads(served.env.cli("bounces", "mentors", "--json").output) == []
        assert all(member(served.env, a).bounce_score == 0 for a in (BEA, CEM, dan))
        logged = wait_for(lambda: named(events(served.log), "copy_refused_form"), what="the error logged")
    assert all(e["level"] == "error" and e["message_id"] == "<refused-1@example.com>" for e in logged)
    assert sum(int(e["count"]) for e in logged) == 3
    assert {e["answer"].split()[0] for e in logged} <= {"500", "554", "552"}
