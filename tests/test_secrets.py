"""Tokens (confirmations, unsubscribe and bounce addresses, moderators' and owners' notices) act
only in the group whose address they came to, only on the member or post they name, and only
until they expire. Over SMTP with the real service; expiry is reached by moving `expires_at`
into the past in the test's own database."""
from __future__ import annotations

import email.utils
import json
import re
import smtplib
from datetime import timedelta
from email.message import Message as EmailMessage
from pathlib import Path

from sqlmodel import Session, select

from conftest import DOMAIN, mail, text_of, wait_for
from mailhub.db import make_engine
from mailhub.membership import new_token
from mailhub.models import Member, Message, Token, utcnow

POST = f"mentors@{DOMAIN}"
JOIN = f"mentors-join@{DOMAIN}"
REQUEST = f"mentors-request@{DOMAIN}"
BOUNCES = Path(__file__).parent / "data" / "bounces"


def members(env, group: str = "mentors") -> set[str]:
    return {m["email"] for m in json.loads(env.cli("member", "list", group, "--json").output)}


def token_address(msg: EmailMessage) -> str:
    return email.utils.parseaddr(msg["Reply-To"])[1]


def token_in(address: str) -> str:
    return address.split("@")[0].split("+")[1]


def unsubscribe_address(copy: EmailMessage) -> str:
    return copy["List-Unsubscribe"].strip("<>").removeprefix("mailto:").split("?")[0]


def expire(env, purpose: str) -> None:
    """Every token of `purpose` reaches its end, as if its days had passed."""
    with Session(make_engine(env.config.database.url)) as s:
        for token in s.exec(select(Token).where(Token.purpose == purpose)).all():
            token.expires_at = utcnow() - timedelta(minutes=1)
            s.add(token)
        s.commit()


def mails(sink, address: str, subject_part: str) -> list[EmailMessage]:
    return [r.message for r in sink.to(address) if subject_part in str(r.message["Subject"])]


def wait_mail(sink, address: str, subject_part: str, count: int = 1) -> EmailMessage:
    found = wait_for(lambda: len(mails(sink, address, subject_part)) >= count and mails(sink, address, subject_part),
                     what=f"mail {count} to {address} about {subject_part!r}")
    return found[count - 1]  # type: ignore[index]


def ask_to_join(env, sink, who: str, nth: int = 1) -> EmailMessage:
    """`who` mails the join address; returns the `nth` confirmation they got."""
    env.send(mail(sender=who, to=JOIN, body=""), [JOIN], mail_from=who)
    return wait_mail(sink, who, "Confirm: join", nth)


def test_tokens_are_long_random_and_url_safe():
    a, b = new_token(), new_token()
    assert a != b
    assert len(a) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", a)  # 16 bytes from `secrets`: 128 bits


def test_a_token_of_one_group_does_nothing_at_another_groups_address(env, sink):
    env.group("mentors", "bea@example.com")
    env.group("alumni", "bea@example.com")
    env.start()
    token = token_in(token_address(ask_to_join(env, sink, "cy@example.com")))
    for other in (f"alumni-request+{token}@{DOMAIN}", f"alumni-request@{DOMAIN}"):
        body = "" if "+" in other else f"confirm {token}"  # the token address, and the command
        env.send(mail(sender="cy@example.com", to=other, subject="ok", body=body), [other],
                 mail_from="cy@example.com")
    answers = [text_of(wait_mail(sink, "cy@example.com", "alumni: answer", n)) for n in (1, 2)]
    assert all("could not find this request" in a for a in answers)
    assert "cy@example.com" not in members(env, "alumni") | members(env, "mentors")
    # The same token at its own group's address was alive all along.
    env.send(mail(sender="cy@example.com", to=f"mentors-request+{token}@{DOMAIN}", body=""),
             [f"mentors-request+{token}@{DOMAIN}"], mail_from="cy@example.com")
    wait_mail(sink, "cy@example.com", "Welcome to mentors")
    assert "cy@example.com" in members(env)
    assert "cy@example.com" not in members(env, "alumni")


def test_a_confirmation_acts_for_the_address_it_was_sent_to_whoever_uses_it(env, sink):
    env.group("mentors", "ann@example.com")
    env.start()
    # Bob's confirmation, forwarded to Ann (or read over his shoulder): Ann uses it.
    join = token_address(ask_to_join(env, sink, "bob@example.com"))
    env.send(mail(sender="dan@example.com", to=join, body=""), [join], mail_from="dan@example.com")
    wait_mail(sink, "bob@example.com", "Welcome to mentors")
    assert members(env) == {"ann@example.com", "bob@example.com"}  # Bob joined; Dan did not
    env.send(mail(sender="bob@example.com", to=REQUEST, subject="leave", body=""), [REQUEST],
             mail_from="bob@example.com")
    leave = token_address(wait_mail(sink, "bob@example.com", "Confirm: leave"))
    env.send(mail(sender="ann@example.com", to=leave, body=""), [leave], mail_from="ann@example.com")
    wait_for(lambda: members(env) == {"ann@example.com"}, what="bob, and only bob, gone")
    wait_mail(sink, "bob@example.com", "You left mentors")
    env.drained()
    assert mails(sink, "ann@example.com", "You left") == [] and sink.to("dan@example.com") == []


def test_a_members_unsubscribe_address_removes_that_member_and_no_one_else(env, sink):
    env.group("mentors", "ann@example.com", "bob@example.com", "cy@example.com")
    env.start()
    env.send(mail(sender="ann@example.com"), [POST], mail_from="ann@example.com")
    bobs = unsubscribe_address(sink.wait("bob@example.com")[0])
    cys = unsubscribe_address(sink.wait("cy@example.com")[0])
    assert bobs != cys and bobs.startswith("mentors-leave+")
    env.send(mail(sender="ann@example.com", to=bobs, subject="unsubscribe", body=""), [bobs],
             mail_from="ann@example.com")
    wait_for(lambda: members(env) == {"ann@example.com", "cy@example.com"}, what="bob removed")
    wait_mail(sink, "bob@example.com", "You left mentors")


def test_an_unsubscribe_address_of_another_group_or_an_earlier_membership_removes_nobody(env, sink):
    env.group("mentors", "ann@example.com", "bob@example.com")
    env.group("alumni", "ann@example.com", "bob@example.com")
    env.start()
    env.send(mail(sender="ann@example.com"), [POST], mail_from="ann@example.com")
    env.send(mail(sender="ann@example.com", to=f"alumni@{DOMAIN}"), [f"alumni@{DOMAIN}"], mail_from="ann@example.com")
    copies = {str(m["List-Id"]): m for m in sink.wait("bob@example.com", 2)}
    old = unsubscribe_address(copies[f"<mentors.{DOMAIN}>"])
    alumni = unsubscribe_address(copies[f"<alumni.{DOMAIN}>"])
    # Bob leaves and is added again: he has a new token, and old copies cannot act for him.
    env.cli("member", "remove", "mentors", "bob@example.com")
    env.cli("member", "add", "mentors", "bob@example.com")
    for address in (old, alumni.replace("alumni-leave", "mentors-leave")):
        env.send(mail(sender="bob@example.com", to=address, subject="unsubscribe", body=""), [address],
                 mail_from="bob@example.com")
    # He is asked to confirm instead, at his own address: the stale link says so, not silence.
    confirmation = wait_mail(sink, "bob@example.com", "Confirm: leave mentors", 2)
    assert "reply to this mail" in text_of(confirmation)
    assert members(env) == members(env, "alumni") == {"ann@example.com", "bob@example.com"}


def test_an_expired_join_confirmation_says_so_and_joining_again_works(env, sink):
    env.group("mentors", "bea@example.com")
    env.start()
    first = token_address(ask_to_join(env, sink, "cy@example.com"))
    expire(env, "join")
    env.send(mail(sender="cy@example.com", to=first, body=""), [first], mail_from="cy@example.com")
    answer = text_of(wait_mail(sink, "cy@example.com", "answer"))
    assert "has ended" in answer and "7 days" in answer and f"send a mail to {JOIN} again" in answer
    assert "cy@example.com" not in members(env)
    second = token_address(ask_to_join(env, sink, "cy@example.com", nth=2))
    assert second != first
    env.send(mail(sender="cy@example.com", to=second, body=""), [second], mail_from="cy@example.com")
    wait_mail(sink, "cy@example.com", "Welcome to mentors")
    assert "cy@example.com" in members(env)


def test_an_expired_moderators_notice_cannot_approve_and_a_fresh_one_comes(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com")
    env.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
    env.start()
    env.send(mail(sender="zed@example.net", subject="Grant question"), [POST], mail_from="zed@example.net")
    notice = wait_mail(sink, "mod@example.com", "post to check")
    expire(env, "moderate")
    env.reply(notice, "approve", "bea@example.com")  # a plain member with the notice learns nothing
    assert "Only the group's owners and moderators" in text_of(wait_mail(sink, "bea@example.com", "answer"))
    env.reply(notice, "approve", "mod@example.com")
    fresh = wait_mail(sink, "mod@example.com", "post to check", 2)
    text = text_of(fresh)
    assert "had ended and nothing was done" in text and "14 days" in text
    held = json.loads(env.cli("held", "list", "--json").output)
    assert len(held) == 1 and f"mailhub held approve|reject|discard {held[0]['id']}" in text
    assert token_address(fresh) != token_address(notice)
    env.drained()
    assert mails(sink, "ann@example.com", "Grant question") == []
    env.reply(fresh, "approve", "mod@example.com")
    wait_mail(sink, "ann@example.com", "Grant question")
    assert json.loads(env.cli("held", "list", "--json").output) == []


def test_an_expired_join_approval_cannot_admit_and_the_owner_gets_a_fresh_one(env, sink):
    env.group("mentors", "bea@example.com")
    env.cli("member", "add", "mentors", "own@example.com", "--role", "owner")
    env.cli("group", "set", "mentors", "--join-policy", "approve")
    env.start()
    env.reply(ask_to_join(env, sink, "eve@example.com"), "", "eve@example.com")
    notice = wait_mail(sink, "own@example.com", "asks to join")
    expire(env, "approve")
    env.reply(notice, "approve", "own@example.com")
    fresh = wait_mail(sink, "own@example.com", "asks to join", 2)
    assert "had ended and nothing was done" in text_of(fresh)
    assert "eve@example.com" not in members(env)
    env.reply(fresh, "approve", "own@example.com")
    wait_mail(sink, "eve@example.com", "Welcome to mentors")
    assert "eve@example.com" in members(env)


def bounce(env, address: str, name: str) -> None:
    data = re.sub(rb"\r?\n", b"\r\n", (BOUNCES / name).read_bytes())  # SMTP line ends
    with smtplib.SMTP("127.0.0.1", env.port, timeout=10) as smtp:
        smtp.sendmail("", [address], data)


def test_a_bounce_to_a_made_up_or_another_groups_token_scores_nobody_and_is_not_answered(env, sink):
    env.group("mentors", "ann@example.com", "bob@example.com")
    env.group("alumni", "bob@example.com")
    engine = make_engine(env.config.database.url)
    with Session(engine) as s:
        tokens = {(m.group_id, m.email): m.token for m in s.exec(select(Member)).all()}
    group_ids = sorted({g for g, _ in tokens})
    mentors_bob, alumni_bob = tokens[group_ids[0], "bob@example.com"], tokens[group_ids[1], "bob@example.com"]
    env.start()
    bounce(env, f"mentors-bounces+{new_token()}@{DOMAIN}", "postfix_01.txt")
    bounce(env, f"mentors-bounces+{alumni_bob}@{DOMAIN}", "postfix_02.txt")

    def done() -> list[Message]:
        with Session(engine) as s:
            found = s.exec(select(Message).where(Message.channel == "bounces")).all()
            return list(found) if len(found) == 2 and all(m.state == "done" for m in found) else []
    assert all("no current member: dropped" in m.reason for m in wait_for(done, what="both bounces read"))
    assert json.loads(env.cli("bounces", "mentors", "--json").output) == []
    assert json.loads(env.cli("bounces", "alumni", "--json").output) == []
    # The member's own token in the same group is read: the two above were not lost by accident.
    bounce(env, f"mentors-bounces+{mentors_bob}@{DOMAIN}", "postfix_03.txt")
    wait_for(lambda: json.loads(env.cli("bounces", "mentors", "--json").output), what="bob's bounce counted")
    assert json.loads(env.cli("bounces", "alumni", "--json").output) == []
    env.drained()
    assert sink.received == []  # nobody was answered
