"""Joining and leaving by mail alone, over SMTP end to end: what a member with only a phone sees."""
from __future__ import annotations

import email.utils
import json

from conftest import DOMAIN, mail, reply_to, text_of, wait_for

POST = f"mentors@{DOMAIN}"
JOIN = f"mentors-join@{DOMAIN}"
LEAVE = f"mentors-leave@{DOMAIN}"
REQUEST = f"mentors-request@{DOMAIN}"


def members(env) -> dict[str, dict]:
    return {m["email"]: m for m in json.loads(env.cli("member", "list", "mentors", "--json").output)}


def test_join_confirm_welcome_post_and_leave_by_mail_alone(env, sink):
    env.group("mentors", "bea@example.com")
    env.start()
    env.send(mail(sender="Dee Phone <dee@example.com>", to=JOIN, subject="join", body=""), [JOIN],
             mail_from="dee@example.com")
    confirm = sink.wait("dee@example.com")[0]
    assert "Confirm" in confirm["Subject"] and confirm["Auto-Submitted"] == "auto-generated"
    assert "dee@example.com" not in members(env)  # nothing happens before the address answers

    # The mail program's plain Reply, quoting the confirmation, is enough.
    data, to = reply_to(confirm, "yes please", "Dee Phone <dee@example.com>")
    assert to.startswith("mentors-request+")
    env.send(data, [to], mail_from="dee@example.com")
    welcome = sink.wait("dee@example.com", 2)[1]
    assert welcome["Subject"] == "Welcome to mentors"
    words = text_of(welcome)
    for how in (POST, "digest daily", REQUEST, "mute", "mentors-leave+"):
        assert how in words, how
    joined = members(env)["dee@example.com"]
    assert (joined["name"], joined["role"], joined["delivery"]) == ("Dee Phone", "member", "each")

    env.send(mail(sender="dee@example.com", subject="Hello from Dee", body="Glad to be here."), [POST],
             mail_from="dee@example.com")
    copy = sink.wait("bea@example.com")[0]
    assert copy["Subject"] == "[mentors] Hello from Dee"

    env.send(mail(sender="dee@example.com", to=LEAVE, subject="leave", body=""), [LEAVE], mail_from="dee@example.com")
    confirm_leave = sink.wait("dee@example.com", 3)[2]
    assert "leave" in confirm_leave["Subject"]
    assert "dee@example.com" in members(env)
    env.reply(confirm_leave, "", "dee@example.com", quote=False)
    goodbye = sink.wait("dee@example.com", 4)[3]
    assert goodbye["Subject"] == "You left mentors"
    assert "dee@example.com" not in members(env)


def test_join_by_command_and_confirm_by_mailing_the_token_address(env, sink):
    env.group("mentors", "bea@example.com")
    env.start()
    env.send(mail(sender="cy@example.com", to=REQUEST, subject="", body="join\n"), [REQUEST], mail_from="cy@example.com")
    got = sink.wait("cy@example.com", 2)
    confirm = next(m for m in got if "Confirm" in m["Subject"])
    answer = next(m for m in got if m is not confirm)
    assert "> join" in text_of(answer) and "Reply to it to join" in text_of(answer)
    token_address = email.utils.parseaddr(confirm["Reply-To"])[1]
    assert token_address in text_of(confirm)  # for clients that cannot reply
    env.send(mail(sender="cy@example.com", to=token_address, subject="ok", body="ok"), [token_address],
             mail_from="cy@example.com")
    assert sink.wait("cy@example.com", 3)[2]["Subject"] == "Welcome to mentors"
    assert "cy@example.com" in members(env)
    # The token was used up: mailing it again changes nothing and says so.
    env.send(mail(sender="cy@example.com", to=token_address, subject="ok", body="ok"), [token_address],
             mail_from="cy@example.com")
    assert "could not find this request" in text_of(sink.wait("cy@example.com", 4)[3])


def eve_confirms_a_join_that_owners_approve(env, sink) -> None:
    env.group("mentors")
    env.cli("member", "add", "mentors", "own@example.com", "--role", "owner")
    env.cli("group", "set", "mentors", "--join-policy", "approve")
    env.start()
    env.send(mail(sender="Eve <eve@example.com>", to=JOIN, body=""), [JOIN], mail_from="eve@example.com")
    env.reply(sink.wait("eve@example.com")[0], "", "eve@example.com")


def test_approve_join_policy_waits_for_an_owner_who_approves_by_reply(env, sink):
    eve_confirms_a_join_that_owners_approve(env, sink)
    assert "waiting for the owners" in sink.wait("eve@example.com", 2)[1]["Subject"]
    ask = sink.wait("own@example.com")[0]
    assert "eve@example.com asks to join" in ask["Subject"]
    assert "eve@example.com" not in members(env)

    # Someone who is not an owner cannot answer for the owners, even with the token.
    env.reply(ask, "approve", "eve@example.com")
    assert "Only the group's owners" in text_of(sink.wait("eve@example.com", 3)[2])
    assert "eve@example.com" not in members(env)

    env.reply(ask, "approve", "own@example.com")
    assert "eve@example.com is now a member" in text_of(sink.wait("own@example.com", 2)[1])
    assert sink.wait("eve@example.com", 4)[3]["Subject"] == "Welcome to mentors"
    assert "eve@example.com" in members(env)


def test_each_join_to_approve_reaches_the_owners_though_tokens_are_deleted_once_used(env, sink):
    """SQLite hands a deleted row's id to the next row: a notice keyed by the token's id would be
    taken for one already queued, and the second joiner never reach an owner."""
    eve_confirms_a_join_that_owners_approve(env, sink)
    env.reply(sink.wait("own@example.com")[0], "approve", "own@example.com")
    assert sink.wait("eve@example.com", 3)[2]["Subject"] == "Welcome to mentors"
    env.send(mail(sender="Fay <fay@example.com>", to=JOIN, body=""), [JOIN], mail_from="fay@example.com")
    env.reply(sink.wait("fay@example.com")[0], "", "fay@example.com")
    ask = next(m for m in sink.wait("own@example.com", 3) if "fay@example.com asks to join" in m["Subject"])
    env.reply(ask, "approve", "own@example.com")
    assert sink.wait("fay@example.com", 3)[2]["Subject"] == "Welcome to mentors"


def test_owner_rejects_a_join_with_a_reason(env, sink):
    eve_confirms_a_join_that_owners_approve(env, sink)
    env.reply(sink.wait("own@example.com")[0], "reject this group is for enrolled mentors", "own@example.com")
    refused = sink.wait("eve@example.com", 3)[2]
    assert "this group is for enrolled mentors" in text_of(refused)
    assert "eve@example.com" not in members(env)


def test_closed_group_refuses_joins_and_points_to_the_owners(env, sink):
    env.group("mentors", "bea@example.com")
    env.cli("group", "set", "mentors", "--join-policy", "closed")
    env.start()
    env.send(mail(sender="zed@example.com", to=JOIN, body=""), [JOIN], mail_from="zed@example.com")
    answer = text_of(sink.wait("zed@example.com")[0])
    assert "invited members only" in answer and f"mentors-owner@{DOMAIN}" in answer
    assert "zed@example.com" not in members(env)


def test_list_unsubscribe_address_removes_the_member_in_one_step(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com")
    env.start()
    env.send(mail(sender="ann@example.com"), [POST], mail_from="ann@example.com")
    copy = sink.wait("bea@example.com")[0]
    unsubscribe = copy["List-Unsubscribe"].strip("<>").removeprefix("mailto:").split("?")[0]
    assert unsubscribe.startswith("mentors-leave+")
    # What a mail program's "Unsubscribe" button sends: no body, maybe marked as automatic.
    env.send(mail(sender="bea@example.com", to=unsubscribe, subject="unsubscribe", body="",
                  headers="Auto-Submitted: auto-generated\r\n"), [unsubscribe], mail_from="bea@example.com")
    wait_for(lambda: "bea@example.com" not in members(env), what="bea removed")
    assert members(env).keys() == {"ann@example.com"}
    env.send(mail(sender="ann@example.com", subject="Second"), [POST], mail_from="ann@example.com")
    wait_for(lambda: len(json.loads(env.cli("topics", "mentors", "--json").output)) == 2, what="second post done")
    env.drained()
    assert [m["Subject"] for m in (r.message for r in sink.to("bea@example.com"))] == ["[mentors] Hello"]


def test_reply_unsubscribe_to_a_list_copy_asks_for_confirmation_and_is_not_posted(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com")
    env.start()
    env.send(mail(sender="ann@example.com"), [POST], mail_from="ann@example.com")
    env.reply(sink.wait("bea@example.com")[0], "unsubscribe", "bea@example.com")
    confirm = sink.wait("bea@example.com", 2)[1]
    assert "leave" in confirm["Subject"]
    env.drained()
    assert sink.to("ann@example.com") == []  # the one word was not posted
    env.reply(confirm, "", "bea@example.com")
    wait_for(lambda: "bea@example.com" not in members(env), what="bea removed")


def test_forged_commands_for_another_address_change_nothing(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com")
    env.start()
    before = members(env)
    # Mallory names Bea in commands; then forges Bea's From on a leave.
    env.send(mail(sender="mal@example.net", to=REQUEST, subject="",
                  body="leave bea@example.com\nnomail address=bea@example.com\njoin bea@example.com\n"),
             [REQUEST], mail_from="mal@example.net")
    answer = text_of(sink.wait("mal@example.net")[0])
    assert answer.count("act only for the address you write from") == 3
    env.send(mail(sender="bea@example.com", to=LEAVE, body=""), [LEAVE], mail_from="mal@example.net")
    # The confirmation goes to Bea's own mailbox, where Mallory cannot answer it.
    assert "leave" in sink.wait("bea@example.com")[0]["Subject"]
    assert members(env) == before
    env.drained()
    assert sink.to("mal@example.net")[1:] == []


def test_confirm_command_works_and_an_expired_confirmation_is_refused(env, sink):
    import sqlite3
    env.group("mentors", "bea@example.com")
    env.start()
    for who in ("cy@example.com", "dee@example.com"):
        env.send(mail(sender=who, to=JOIN, body=""), [JOIN], mail_from=who)
    tokens = {who: email.utils.parseaddr(sink.wait(who)[0]["Reply-To"])[1].split("+")[1].split("@")[0]
              for who in ("cy@example.com", "dee@example.com")}
    # For mail programs that cannot reply: the command with the token, to the request address.
    env.send(mail(sender="cy@example.com", to=REQUEST, subject="", body=f"confirm {tokens['cy@example.com']}"),
             [REQUEST], mail_from="cy@example.com")
    got = sink.wait("cy@example.com", 3)
    assert "Welcome to mentors" in [m["Subject"] for m in got]
    assert "You joined mentors" in text_of(next(m for m in got[1:] if m["Subject"] != "Welcome to mentors"))
    # Dee waits past limits.confirm_days: the token no longer works.
    db = env.config.database.url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE tokens SET expires_at = '2020-01-01 00:00:00.000000' WHERE email = 'dee@example.com'")
    env.send(mail(sender="dee@example.com", to=REQUEST, subject=f"confirm {tokens['dee@example.com']}", body=""),
             [REQUEST], mail_from="dee@example.com")
    assert "This request has ended" in text_of(sink.wait("dee@example.com", 2)[1])
    assert set(members(env)) == {"bea@example.com", "cy@example.com"}


def test_a_joiners_name_with_line_breaks_is_stored_on_one_line(env, sink):
    env.group("mentors", "bea@example.com")
    env.start()
    # An encoded display name hiding a line break and a header.
    env.send(mail(sender="=?utf-8?q?Dee=0D=0ABcc=3A_all=40example=2Eorg?= <dee@example.com>", to=JOIN, body=""),
             [JOIN], mail_from="dee@example.com")
    env.reply(sink.wait("dee@example.com")[0], "", "dee@example.com")
    sink.wait("dee@example.com", 2)
    assert members(env)["dee@example.com"]["name"] == "Dee Bcc: all@example.org"
