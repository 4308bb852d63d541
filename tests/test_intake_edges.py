"""Mail that used to be taken and then lost or stuck: a Message-ID another mail already has, a
second delivery of one mail, mail to postmaster@ and abuse@, a group nobody owns. Every mail the
listener answers 250 is findable afterwards (`mailhub messages`), with what became of it."""
from __future__ import annotations

import json
import logging
import smtplib

import pytest

from conftest import DOMAIN, Env, Sink, mail, text_of, wait_for
from mailhub.config import ConfigError, parse_config
from mailhub.store import fingerprint

POST = f"mentors@{DOMAIN}"
ANN, BEA, CID = "ann@example.com", "bea@example.com", "cid@example.com"
POSTMASTER = "admin@example.net"


def listed(env: Env, *args: str) -> list[dict]:
    return json.loads(env.cli("messages", *args, "--json").output)


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict]:
    return [r.fields for r in caplog.records if getattr(r, "event", None) == name]


def test_a_different_mail_with_a_reused_message_id_is_posted_under_an_id_of_its_own(
        env: Env, sink: Sink, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="mailhub")
    env.group("mentors", ANN, BEA, CID)
    env.start()
    env.send(mail(subject="Pricing", body="How do I price my first product?", message_id="<msg@id>"), [POST])
    sink.wait(CID)
    env.send(mail(subject="Visas", body="Which visa lets me sell at a trade fair?", message_id="<msg@id>",
                  sender=f"Bea <{BEA}>"), [POST], mail_from=BEA)
    first, second = sink.wait(CID, 2)

    assert "trade fair" in text_of(second) and "price" in text_of(first)
    # Mail programs drop a second mail with an id they know: the copy carries the id mailhub gave it.
    assert first["Message-ID"] == "<msg@id>"
    assert second["Message-ID"] != "<msg@id>" and second["Message-ID"].endswith(f"@{DOMAIN}>")
    posts = listed(env, "mentors")
    assert [m["state"] for m in posts] == ["posted", "posted"]
    assert posts[0]["subject"] == "Visas" and posts[0]["topic"] != posts[1]["topic"]
    reused, = events(caplog, "reused_id")
    assert reused["message_id"] == "<msg@id>" and reused["earlier"] == posts[1]["id"]
    assert reused["key"] == second["Message-ID"]

    # Threading goes by the ids as written: a reply to the mail that first had it joins its topic,
    # a reply to the second one's copy joins the second.
    env.send(mail(subject="Re: Pricing", body="Cost plus 30%.", headers="In-Reply-To: <msg@id>\r\n",
                  sender=f"Bea <{BEA}>"), [POST], mail_from=BEA)
    env.send(mail(subject="Re: Visas", body="A business visitor visa.", sender=f"Ann <{ANN}>",
                  headers=f"In-Reply-To: {second['Message-ID']}\r\n"), [POST])
    wait_for(lambda: len(listed(env, "mentors", "--state", "posted")) == 4, what="both replies posted")
    by_subject = {m["subject"]: m["topic"] for m in listed(env, "mentors")}
    assert by_subject["Re: Pricing"] == by_subject["Pricing"]
    assert by_subject["Re: Visas"] == by_subject["Visas"]


def test_the_same_mail_delivered_again_is_kept_once_and_the_second_is_findable(
        env: Env, sink: Sink, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="mailhub")
    env.group("mentors", ANN, BEA)
    env.start()
    original = mail(subject="Workshop", body="See you at ten.", message_id="<workshop-1@example.com>")
    env.send(b"Received: from a.example by mx1.example; Mon, 23 Nov 2026 10:00:01 +0000\r\n" + original, [POST])
    sink.wait(BEA)
    # The sending server lost our 250 and sends it again, through another hop.
    env.send(b"Received: from a.example by mx2.example; Mon, 23 Nov 2026 10:05:00 +0000\r\n"
             b"X-Spam-Score: 0.1\r\n" + original, [POST])
    dropped = wait_for(lambda: listed(env, "mentors", "--state", "discarded"), what="the second delivery listed")
    env.drained()

    assert len(sink.to(BEA)) == 1
    posted, = listed(env, "mentors", "--state", "posted")
    again, = dropped  # type: ignore[misc]
    assert again["reason"] == f"duplicate: message {posted['id']} is the same mail"
    assert again["subject"] == "Workshop" and again["from"] == ANN  # read from its headers: never processed
    duplicate, = events(caplog, "duplicate")
    assert duplicate["earlier"] == posted["id"] and duplicate["id"] == again["id"]
    assert len(events(caplog, "stored")) == 1  # nothing is logged "stored" that was not
    text = env.cli("messages", "mentors").output
    assert "duplicate: message" in text and "posted" in text


def test_fingerprint_ignores_trace_headers_and_folding_but_not_content():
    mail_ = mail(subject="A long subject", body="Same words.", message_id="<x@y>")
    relayed = b"Received: by mx.example\r\nDKIM-Signature: v=1; d=example.com\r\n" + mail_
    folded = mail_.replace(b"Subject: A long subject", b"Subject: A long\r\n subject")
    assert fingerprint(mail_) == fingerprint(relayed) == fingerprint(folded)
    assert fingerprint(mail_) != fingerprint(mail_.replace(b"Same words.", b"Other words."))
    assert fingerprint(mail_) != fingerprint(mail_.replace(b"Subject: A long", b"Subject: Another long"))
    resent = b"Resent-From: Bea <bea@example.com>\r\nResent-Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n" + mail_
    assert fingerprint(mail_) != fingerprint(resent)  # a person sent it again, on purpose


@pytest.mark.parametrize("rcpt", ["postmaster@" + DOMAIN, "Postmaster@" + DOMAIN.upper(), "abuse@" + DOMAIN,
                                  "postmaster"])
def test_postmaster_and_abuse_reach_server_postmaster(tmp_path, sink: Sink, rcpt: str):
    env = Env(tmp_path, sink.port, extra="")
    env.edit_config(lambda text: text.replace("[server]\n", f'[server]\npostmaster = "{POSTMASTER}"\n', 1))
    try:
        env.start()
        env.send(mail(subject="Your list sent me spam", to=rcpt, sender="Dan <dan@example.com>"), [rcpt],
                 mail_from="dan@example.com")
        got = sink.wait(POSTMASTER)[0]
        assert got["Subject"] == "Your list sent me spam" and got["From"] == "Dan <dan@example.com>"
        assert sink.to(POSTMASTER)[0].mail_from == "<>"  # a bouncing postmaster address cannot loop
        site, = listed(env)
        assert site["group"] == "(site)" and site["reason"] == "forwarded to server.postmaster"
    finally:
        env.stop()


def test_without_server_postmaster_each_group_owner_gets_postmaster_mail_once(env: Env, sink: Sink):
    env.cli("group", "create", "mentors", "--owner", ANN, "--owner", BEA)
    env.cli("group", "create", "mentees", "--owner", ANN)
    env.start()
    env.send(mail(subject="Abuse report", to=f"abuse@{DOMAIN}"), [f"abuse@{DOMAIN}"], mail_from="dan@example.com")
    sink.wait(ANN)
    sink.wait(BEA)
    env.drained()
    assert len(sink.to(ANN)) == 1
    assert listed(env)[0]["reason"] == "forwarded to 2 group owner(s) (server.postmaster is not set)"


def test_postmaster_of_another_domain_is_still_refused(env: Env):
    env.group("mentors", ANN)
    env.start()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        env.send(mail(to="postmaster@example.com"), ["postmaster@example.com"])
    assert refused.value.recipients["postmaster@example.com"][0] == 550


def test_group_create_without_owner_warns_and_with_owner_sets_one(env: Env):
    created = env.cli("group", "create", "mentors")
    assert "warning: mentors has no owner" in created.output and "nobody will see its held posts" in created.output
    owned = env.cli("group", "create", "mentees", "--owner", "Ann@Example.com", "--owner", BEA)
    assert "warning" not in owned.output and "owners: ann@example.com, bea@example.com" in owned.output
    members = json.loads(env.cli("member", "list", "mentees", "--json").output)
    assert sorted((m["email"], m["role"]) for m in members) == [(ANN, "owner"), (BEA, "owner")]
    bad = env.cli("group", "create", "alumni", "--owner", "not-an-address", ok=False)
    assert bad.exit_code == 1 and "not a valid mail address" in bad.output
    assert "alumni" not in env.cli("group", "list").output
    for name in ("postmaster", "abuse"):
        refused = env.cli("group", "create", name, ok=False)
        assert refused.exit_code == 1 and "the site's own address" in refused.output


def test_a_group_without_owner_sends_owner_mail_and_held_posts_to_server_postmaster(tmp_path, sink: Sink):
    env = Env(tmp_path, sink.port)
    env.edit_config(lambda text: text.replace("[server]\n", f'[server]\npostmaster = "{POSTMASTER}"\n', 1))
    try:
        created = env.cli("group", "create", "mentors", "--policy", "moderated")
        assert f"go to server.postmaster ({POSTMASTER})" in created.output
        env.cli("member", "add", "mentors", ANN)
        env.start()
        env.send(mail(subject="Who runs this group?", to=f"mentors-owner@{DOMAIN}"), [f"mentors-owner@{DOMAIN}"])
        env.send(mail(subject="My first post"), [POST])
        got = {m["Subject"]: m for m in sink.wait(POSTMASTER, 2)}
        assert "Who runs this group?" in got
        held = next(m for s, m in got.items() if s != "Who runs this group?")
        assert "My first post" in text_of(held)
        # The notice can be answered: the postmaster approves, and the post goes out.
        env.reply(held, "approve", POSTMASTER, quote=False)
        wait_for(lambda: listed(env, "mentors", "--state", "posted"), what="the held post approved")
    finally:
        env.stop()


def test_messages_lists_what_was_discarded_with_why_and_refuses_bad_options(env: Env, sink: Sink):
    env.group("mentors", ANN, BEA)
    env.start()
    env.send(mail(subject="Out of office", headers="Auto-Submitted: auto-replied\r\n"), [POST])
    env.send(mail(subject="Hello all"), [POST])
    sink.wait(BEA)
    wait_for(lambda: listed(env, "mentors", "--state", "discarded"), what="the auto-reply processed")
    rows = listed(env, "mentors")
    assert [(r["subject"], r["state"]) for r in rows] == [("Hello all", "posted"), ("Out of office", "discarded")]
    assert "auto" in rows[1]["reason"]
    assert [r["subject"] for r in listed(env, "mentors", "--limit", "1")] == ["Hello all"]
    for args, says, status in ((("--state", "lost"), "--state takes new, posted, held", 2),
                               (("--limit", "0"), "--limit must be", 1), (("nogroup",), "no group named 'nogroup'", 1)):
        result = env.cli("messages", *args, ok=False)
        assert result.exit_code == status and says in result.output
    assert "no held mail in mentors" in env.cli("messages", "mentors", "--state", "held").output


@pytest.mark.parametrize("value, says", [("not an address", "must be one mail address"),
                                         (f"someone@{DOMAIN}", "must be an address outside")])
def test_a_bad_server_postmaster_is_refused_at_load(tmp_path, value, says):
    with pytest.raises(ConfigError, match=says):
        parse_config({"server": {"domain": DOMAIN, "postmaster": value}, "database": {"url": "sqlite:///x.db"},
                      "relay": {"maildir": "out"}}, tmp_path)
