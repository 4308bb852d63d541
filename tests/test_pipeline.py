"""A post's whole journey over real SMTP: listener → store → thread → fan out → relay sink."""
from __future__ import annotations

import json
import os
import signal
import smtplib
import sqlite3

import pytest

from conftest import DOMAIN, mail, wait_for

POST = f"mentors@{DOMAIN}"


def test_post_reaches_every_other_member_with_list_headers(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com", "cem@example.com")
    env.start()
    env.send(mail(subject="Welcome", body="Hello everyone", message_id="<p1@example.com>"), [POST])
    wait_for(lambda: sink.count() == 2, what="two copies")
    assert sink.to("ann@example.com") == []  # the author gets no copy by default
    copy = sink.to("bea@example.com")[0]
    msg = copy.message
    assert msg["Subject"] == "[mentors] Welcome"
    assert msg["From"] == "Ann via mentors <mentors@lists.example.org>"
    assert msg["X-Original-From"] is None and msg["To"] == POST  # a new group hides addresses
    assert msg["Message-ID"] == "<p1@example.com>"
    assert msg["List-Id"] == f"<mentors.{DOMAIN}>"
    assert msg["List-Post"] == f"<mailto:mentors@{DOMAIN}>"
    assert msg["List-Help"] == f"<mailto:mentors-request@{DOMAIN}?subject=help>"
    assert msg["Precedence"] == "list"
    assert msg["Reply-To"].startswith("<mentors+") and msg["Reply-To"].endswith(f"@{DOMAIN}>")
    # Envelope and unsubscribe carry the recipient's own token, distinct per member.
    assert copy.mail_from.startswith("mentors-bounces+")
    unsub = msg["List-Unsubscribe"]
    assert unsub.startswith("<mailto:mentors-leave+")
    other = sink.to("cem@example.com")[0]
    assert other.mail_from != copy.mail_from
    assert other.message["List-Unsubscribe"] != unsub
    body = msg.get_payload(decode=True).decode()
    assert "Hello everyone" in body and "Leave mentors" in body


def test_reply_prefix_is_not_doubled(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com")
    env.start()
    env.send(mail(subject="Re: [mentors] Welcome"), [POST])
    wait_for(lambda: sink.count() == 1)
    assert sink.received[0].message["Subject"] == "Re: [mentors] Welcome"


def test_unknown_group_and_foreign_domain_are_refused_at_rcpt(env):
    env.group("mentors", "ann@example.com")
    env.start()
    with smtplib.SMTP("127.0.0.1", env.port) as smtp:
        smtp.ehlo()
        smtp.mail("ann@example.com")
        code, text = smtp.rcpt(f"nobody@{DOMAIN}")
        assert code == 550 and b"no such group" in text
        code, text = smtp.rcpt("someone@gmail.com")
        assert code == 550 and b"relay access denied" in text
        code, _ = smtp.rcpt(f"mentors-nonsense+x@{DOMAIN}")
        assert code == 550
        code, _ = smtp.rcpt(f'"mentors x"@{DOMAIN}')
        assert code == 550
        code, _ = smtp.rcpt(f"someone%gmail.com@{DOMAIN}")
        assert code == 550
        code, _ = smtp.rcpt(f"mentors@{DOMAIN}")
        assert code == 250


def test_oversize_message_gets_552(env):
    env.group("mentors", "ann@example.com")
    env.start()
    big = mail(body="a line of seventy characters, repeated until the mail is too big....\r\n" * 2200)
    with smtplib.SMTP("127.0.0.1", env.port) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("size") and int(smtp.esmtp_features["size"]) == 100000
        # A client that declares the size is refused before it sends a byte…
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail("ann@example.com", [POST], big)
        assert refused.value.smtp_code == 552
    with smtplib.SMTP("127.0.0.1", env.port) as smtp:
        # …and one that does not is refused after DATA.
        smtp.ehlo()
        smtp.mail("ann@example.com")
        smtp.rcpt(POST)
        code, _ = smtp.data(big)
        assert code == 552
    assert json.loads(env.cli("topics", "mentors", "--json").output) == []


def test_duplicate_message_id_is_delivered_once(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com")
    env.start()
    data = mail(message_id="<same@example.com>")
    env.send(data, [POST])
    env.send(data, [POST])  # a retrying client, or a second MX hop
    wait_for(lambda: sink.count() >= 1)
    queue = wait_for(lambda: (q := json.loads(env.cli("queue", "--json").output))["counts"]["pending"] == 0 and q)
    assert queue["counts"]["sent"] == 1
    assert len(sink.to("bea@example.com")) == 1
    topics = json.loads(env.cli("topics", "mentors", "--json").output)
    assert [t["messages"] for t in topics] == [1]


def test_non_member_post_is_held_then_approved_and_delivered(env, sink):
    env.group("mentors", "bea@example.com", "cem@example.com")
    env.start()
    env.send(mail(sender="Stranger <zed@example.net>", subject="Can I join?"), [POST], mail_from="zed@example.net")
    held = wait_for(lambda: json.loads(env.cli("held", "list", "--json").output), what="held post")
    assert held[0]["from"] == "zed@example.net" and held[0]["reason"] == "the sender is not a member"
    waiting = wait_for(lambda: sink.to("zed@example.net"), what="note that the post waits")[0].message
    assert "waits for a moderator" in waiting["Subject"]
    assert sink.to("bea@example.com") == []  # members are not moderators: no notice, no copy yet
    env.cli("held", "approve", str(held[0]["id"]))
    wait_for(lambda: sink.to("bea@example.com") and sink.to("cem@example.com"), what="copies after approval")
    assert sink.to("bea@example.com")[0].message["Subject"] == "[mentors] Can I join?"
    assert json.loads(env.cli("held", "list", "--json").output) == []


def test_rejected_post_tells_the_sender_why(env, sink):
    env.group("mentors", "bea@example.com")
    env.start()
    env.send(mail(sender="zed@example.net", subject="Buy now"), [POST], mail_from="zed@example.net")
    held = wait_for(lambda: json.loads(env.cli("held", "list", "--json").output))
    env.cli("held", "reject", str(held[0]["id"]), "--reason", "This group is for mentors only.")
    notices = wait_for(lambda: len(sink.to("zed@example.net")) == 2 and sink.to("zed@example.net"),
                       what="waiting note, then rejection notice")
    notice = next(n.message for n in notices if "was not posted" in n.message["Subject"])
    assert notice["Auto-Submitted"] == "auto-generated"
    assert "This group is for mentors only." in notice.get_payload(decode=True).decode()
    assert sink.to("bea@example.com") == []


def test_moderated_group_holds_members_but_not_moderators(env, sink):
    env.group("mentors", "bea@example.com", policy="moderated")
    env.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
    env.start()
    env.send(mail(sender="bea@example.com", subject="From a member"), [POST], mail_from="bea@example.com")
    env.send(mail(sender="mod@example.com", subject="From the moderator"), [POST], mail_from="mod@example.com")
    wait_for(lambda: sink.to("bea@example.com"), what="moderator's post delivered")
    held = json.loads(env.cli("held", "list", "--json").output)
    assert [h["subject"] for h in held] == ["From a member"]


def test_auto_replies_and_list_loops_are_never_posted(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com", policy="open")
    env.start()
    env.send(mail(subject="Out of office", headers="Auto-Submitted: auto-replied\r\n"), [POST])
    env.send(mail(subject="Looped", headers=f"List-Id: <mentors.{DOMAIN}>\r\n"), [POST])
    env.send(mail(subject="Bounce"), [POST], mail_from="")
    env.send(mail(subject="Real post"), [POST])
    wait_for(lambda: sink.to("bea@example.com"))
    assert [r.message["Subject"] for r in sink.received] == ["[mentors] Real post"]
    assert json.loads(env.cli("held", "list", "--json").output) == []


def test_mail_to_owner_address_reaches_the_owners(env, sink):
    env.group("mentors", "bea@example.com")
    env.cli("member", "add", "mentors", "boss@example.com", "--role", "owner")
    env.start()
    env.send(mail(sender="zed@example.net", subject="Question for you", to=f"mentors-owner@{DOMAIN}"),
             [f"mentors-owner@{DOMAIN}"], mail_from="zed@example.net")
    got = wait_for(lambda: sink.to("boss@example.com"), what="forward to owner")
    assert got[0].message["Subject"] == "Question for you"
    assert sink.to("bea@example.com") == []


def test_one_mail_to_two_groups_is_posted_in_both(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com")
    env.group("mentees", "ann@example.com", "cem@example.com")
    env.start()
    env.send(mail(to=f"mentors@{DOMAIN}, mentees@{DOMAIN}"), [POST, f"mentees@{DOMAIN}"])
    wait_for(lambda: sink.count() == 2)
    assert sink.to("bea@example.com")[0].message["Subject"] == "[mentors] Hello"
    assert sink.to("cem@example.com")[0].message["Subject"] == "[mentees] Hello"


def _topics(env) -> list[dict]:
    return json.loads(env.cli("topics", "mentors", "--json").output)


def test_replies_by_header_by_topic_address_and_by_subject_join_one_topic(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com", "cem@example.com")
    env.start()
    env.send(mail(subject="Pricing help", message_id="<root@example.com>"), [POST])
    first = wait_for(lambda: sink.to("bea@example.com"), what="the first post")[0].message
    reply_to = first["Reply-To"].strip("<>")
    # 1. A reply with threading headers.
    env.send(mail(sender="bea@example.com", subject="Re: [mentors] Pricing help", message_id="<r1@example.com>",
                  headers="In-Reply-To: <root@example.com>\r\nReferences: <root@example.com>\r\n"),
             [POST], mail_from="bea@example.com")
    # 2. A reply from a client that keeps no headers and changes the subject, sent to Reply-To.
    env.send(mail(sender="cem@example.com", subject="my answer", to=reply_to, message_id="<r2@example.com>"),
             [reply_to], mail_from="cem@example.com")
    # 3. A reply with only a "Re:" subject.
    env.send(mail(sender="bea@example.com", subject="RE: Pricing help", message_id="<r3@example.com>"),
             [POST], mail_from="bea@example.com")
    # A new post that merely shares words is its own topic.
    env.send(mail(sender="cem@example.com", subject="Pricing help", message_id="<new@example.com>"),
             [POST], mail_from="cem@example.com")
    wait_for(lambda: sum(t["messages"] for t in _topics(env)) == 5, what="five threaded messages")
    counts = sorted(t["messages"] for t in _topics(env))
    assert counts == [1, 4]
    big = next(t for t in _topics(env) if t["messages"] == 4)
    shown = json.loads(env.cli("topic", "show", str(big["id"]), "--json").output)
    assert [m["message_id"] for m in shown["messages"]] == [
        "root@example.com", "r1@example.com", "r2@example.com", "r3@example.com"]
    # Every copy in the topic offers the same reply address; the other topic its own.
    wait_for(lambda: len(sink.to("ann@example.com")) == 4)
    reply_tos = {r.message["Message-ID"]: r.message["Reply-To"] for r in sink.to("ann@example.com")}
    assert reply_tos["<r1@example.com>"] == reply_tos["<r2@example.com>"] == reply_tos["<r3@example.com>"] \
        == f"<{reply_to}>"
    assert reply_tos["<new@example.com>"] != f"<{reply_to}>"


def test_store_failure_answers_451_and_the_listener_recovers(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com")
    env.start()
    db = sqlite3.connect(env.config.database.url.removeprefix("sqlite:///"))
    # A real failure inside the real database: every insert of incoming mail aborts.
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'disk trouble'); END")
    db.commit()
    with pytest.raises(smtplib.SMTPDataError) as err:
        env.send(mail(subject="During the trouble"), [POST])
    assert err.value.smtp_code == 451
    db.execute("DROP TRIGGER refuse")
    db.commit()
    db.close()
    env.send(mail(subject="After the trouble"), [POST])
    got = wait_for(lambda: sink.to("bea@example.com"), what="delivery after recovery")
    assert [r.message["Subject"] for r in got] == ["[mentors] After the trouble"]


def test_a_killed_worker_process_is_replaced_and_work_resumes(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com")
    service = env.start()
    first = service.worker.pid
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: service.worker.pid != first and service.worker.is_alive(), what="a new worker")
    env.send(mail(subject="Still here"), [POST])
    wait_for(lambda: sink.to("bea@example.com"), what="delivery by the new worker")
