"""Moderators work by mail: held posts reach them, their one-word reply decides. Also the rules
that hold posts, and muting or following one topic by a one-word reply."""
from __future__ import annotations

import json

from conftest import DOMAIN, mail, text_of, wait_for

POST = f"mentors@{DOMAIN}"
JOIN = f"mentors-join@{DOMAIN}"


def held(env) -> list[dict]:
    return json.loads(env.cli("held", "list", "--json").output)


def setup(env) -> None:
    env.group("mentors", "ann@example.com", "bea@example.com")
    env.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
    env.cli("member", "add", "mentors", "own@example.com", "--role", "owner")
    env.start()


def subjects(sink, address: str) -> list[str]:
    return [r.message["Subject"] for r in sink.to(address)]


def test_moderator_approves_a_held_post_by_replying_approve(env, sink):
    setup(env)
    env.send(mail(sender="Zed Stranger <zed@example.net>", subject="Funding question",
                  body="Does anyone know a grant for rural bakeries?"), [POST], mail_from="zed@example.net")
    notice = sink.wait("mod@example.com")[0]
    text = text_of(notice)
    assert "Funding question" in notice["Subject"]
    assert "zed@example.net" in text and "grant for rural bakeries" in text and "not a member" in text
    assert "waits for a moderator" in sink.wait("zed@example.net")[0]["Subject"]
    sink.wait("own@example.com")  # owners moderate too: one notice each
    env.drained()
    assert sink.to("ann@example.com") == []

    env.reply(notice, "Approve", "mod@example.com")
    copy = sink.wait("ann@example.com")[0]
    assert copy["Subject"] == "[mentors] Funding question"
    assert held(env) == []
    answer = next(m for m in sink.wait("mod@example.com", 3) if "answer" in m["Subject"])  # and mod's own copy
    assert "is posted to mentors" in text_of(answer)

    # The owner answers the same notice later: nothing is posted twice.
    env.reply(sink.to("own@example.com")[0].message, "approve", "own@example.com")
    answer = wait_for(lambda: [r.message for r in sink.to("own@example.com") if "answer" in r.message["Subject"]])
    assert "already decided (approved by mod@example.com)" in text_of(answer[0])
    assert len(sink.to("ann@example.com")) == 1


def test_moderator_rejects_with_a_reason_the_sender_is_told(env, sink):
    setup(env)
    env.send(mail(sender="zed@example.net", subject="Cheap loans"), [POST], mail_from="zed@example.net")
    env.reply(sink.wait("mod@example.com")[0], "reject This group is for programme members.", "mod@example.com")
    told = sink.wait("zed@example.net", 2)[1]
    assert "was not posted" in told["Subject"]
    assert "This group is for programme members." in text_of(told)
    env.drained()
    assert held(env) == [] and sink.to("ann@example.com") == []


def test_discard_drops_the_post_without_telling_the_sender(env, sink):
    setup(env)
    env.send(mail(sender="spam@example.net", subject="WIN"), [POST], mail_from="spam@example.net")
    env.reply(sink.wait("mod@example.com")[0], "discard", "mod@example.com")
    assert "Discarded" in text_of(sink.wait("mod@example.com", 2)[1])
    env.drained()
    assert subjects(sink, "spam@example.net") == ["mentors: your message waits for a moderator"]
    assert held(env) == []


def test_only_moderators_can_decide_even_with_the_notice_in_hand(env, sink):
    setup(env)
    env.send(mail(sender="zed@example.net", subject="Let me in"), [POST], mail_from="zed@example.net")
    notice = sink.wait("mod@example.com")[0]
    env.reply(notice, "approve", "bea@example.com")  # forwarded to a plain member
    assert "Only the group's owners and moderators" in text_of(sink.wait("bea@example.com")[0])
    assert len(held(env)) == 1


def test_unclear_verdict_is_explained_and_changes_nothing(env, sink):
    setup(env)
    env.send(mail(sender="zed@example.net", subject="Hm"), [POST], mail_from="zed@example.net")
    env.reply(sink.wait("mod@example.com")[0], "Let me think about it", "mod@example.com")
    assert "reply with one word" in text_of(sink.wait("mod@example.com", 2)[1])
    assert len(held(env)) == 1


def test_sender_is_told_of_waiting_posts_once_a_day(env, sink):
    setup(env)
    for n in range(3):
        env.send(mail(sender="zed@example.net", subject=f"Post {n}"), [POST], mail_from="zed@example.net")
    wait_for(lambda: len(held(env)) == 3, what="three held posts")
    sink.wait("mod@example.com", 3)
    env.drained()
    assert subjects(sink, "zed@example.net") == ["mentors: your message waits for a moderator"]


def test_new_member_moderation_holds_the_first_post_only_until_one_is_approved(env, sink):
    setup(env)
    env.cli("group", "set", "mentors", "--new-member-moderation", "on")
    env.send(mail(sender="dee@example.com", to=JOIN, body=""), [JOIN], mail_from="dee@example.com")
    env.reply(sink.wait("dee@example.com")[0], "", "dee@example.com")
    sink.wait("dee@example.com", 2)  # welcome
    env.send(mail(sender="dee@example.com", subject="First"), [POST], mail_from="dee@example.com")
    notice = sink.wait("mod@example.com")[0]
    assert "first post" in text_of(notice)
    env.cli("held", "approve", str(held(env)[0]["id"]))  # the CLI decides as a moderator's mail does
    sink.wait("ann@example.com")
    env.send(mail(sender="dee@example.com", subject="Second"), [POST], mail_from="dee@example.com")
    assert sink.wait("ann@example.com", 2)[1]["Subject"] == "[mentors] Second"
    assert held(env) == []


def test_moderated_member_and_rate_limit_hold_posts(env, sink):
    setup(env)
    env.cli("member", "set", "mentors", "bea@example.com", "--moderated", "on")
    env.cli("group", "set", "mentors", "--rate-limit", "2/hour")
    env.send(mail(sender="bea@example.com", subject="From Bea"), [POST], mail_from="bea@example.com")
    for n in range(3):
        env.send(mail(sender="ann@example.com", subject=f"Ann {n}"), [POST], mail_from="ann@example.com")
    rows = wait_for(lambda: len(h := held(env)) == 2 and h, what="two held posts")
    assert sorted((r["subject"], r["reason"]) for r in rows) == [
        ("Ann 2", "more than 2 posts in an hour"), ("From Bea", "the sender's posts are checked by a moderator")]
    # Moderators are not limited.
    for n in range(3):
        env.send(mail(sender="mod@example.com", subject=f"Mod {n}"), [POST], mail_from="mod@example.com")
    sink.wait("bea@example.com", 5)
    assert len(held(env)) == 2


def test_mute_stops_copies_of_that_topic_only_and_follow_brings_it_back(env, sink):
    setup(env)
    env.send(mail(sender="ann@example.com", subject="Export rules"), [POST], mail_from="ann@example.com")
    env.send(mail(sender="ann@example.com", subject="Market day"), [POST], mail_from="ann@example.com")
    copies = sink.wait("bea@example.com", 2)
    export = next(m for m in copies if "Export" in m["Subject"])
    env.reply(export, "mute", "bea@example.com")
    done = sink.wait("bea@example.com", 3)[2]
    assert 'no more mail from the topic "Export rules"' in text_of(done)
    env.drained()
    assert sink.to("ann@example.com") == []  # the one word was not posted

    # Replies in both topics: Bea gets only the market one.
    for original in copies:
        env.reply(original, "More on this.", "mod@example.com")
    sink.wait("ann@example.com", 2)
    env.drained()
    got = subjects(sink, "bea@example.com")[3:]
    assert got == ["Re: [mentors] Market day"]

    env.reply(export, "follow", "bea@example.com")
    sink.wait("bea@example.com", 5)
    env.reply(export, "And one more.", "mod@example.com")
    assert "Export rules" in sink.wait("bea@example.com", 6)[5]["Subject"]


def test_follow_sends_one_topic_to_a_digest_reader(env, sink):
    setup(env)
    env.send(mail(sender="ann@example.com", subject="Mentor pairing"), [POST], mail_from="ann@example.com")
    key = wait_for(lambda: json.loads(env.cli("topics", "mentors", "--json").output))[0]["key"]
    sink.wait("bea@example.com")
    request = f"mentors-request@{DOMAIN}"
    env.send(mail(sender="bea@example.com", to=request, subject="", body=f"digest weekly\nfollow {key}"), [request],
             mail_from="bea@example.com")
    sink.wait("bea@example.com", 2)
    env.send(mail(sender="ann@example.com", subject="Something else"), [POST], mail_from="ann@example.com")
    env.send(mail(sender="ann@example.com", subject="Re: Mentor pairing", body="Pairs are out."), [POST],
             mail_from="ann@example.com")
    third = sink.wait("bea@example.com", 3)[2]
    assert "Mentor pairing" in third["Subject"]
    env.drained()
    assert len(sink.to("bea@example.com")) == 3


def test_a_muted_topic_stays_muted_when_a_late_parent_merges_it(env, sink):
    setup(env)
    env.send(mail(sender="mod@example.com", subject="Visa letters", message_id="<root@example.com>"), [POST],
             mail_from="mod@example.com")
    sink.wait("bea@example.com")
    # A reply to a message that has not arrived yet (out-of-order delivery) opens a topic of its own.
    env.send(mail(sender="ann@example.com", subject="Re: Embassy hours", message_id="<late-child@example.com>",
                  headers="In-Reply-To: <middle@example.com>\r\n"), [POST], mail_from="ann@example.com")
    child_copy = sink.wait("bea@example.com", 2)[1]
    env.reply(child_copy, "mute", "bea@example.com")
    assert "no more mail" in text_of(sink.wait("bea@example.com", 3)[2])
    # The missing middle message arrives and joins the two topics into one, muted for Bea.
    env.send(mail(sender="own@example.com", subject="Re: Visa letters", message_id="<middle@example.com>",
                  headers="In-Reply-To: <root@example.com>\r\n"), [POST], mail_from="own@example.com")
    wait_for(lambda: [t["messages"] for t in json.loads(env.cli("topics", "mentors", "--json").output)] == [3],
             what="one topic of three messages")
    env.send(mail(sender="mod@example.com", subject="Re: Visa letters", headers="In-Reply-To: <middle@example.com>\r\n"),
             [POST], mail_from="mod@example.com")
    sink.wait("ann@example.com", 3)
    env.drained()
    assert len(sink.to("bea@example.com")) == 3  # root, child, the mute answer: nothing once muted
