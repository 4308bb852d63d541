"""Every command to `-request`, over SMTP end to end: one answer per mail, listing each command
and what it did."""
from __future__ import annotations

import json

import pytest

from conftest import DOMAIN, mail, text_of, wait_for
from mailhub.commands import COMMANDS

POST = f"mentors@{DOMAIN}"
REQUEST = f"mentors-request@{DOMAIN}"


def ask(env, sink, sender: str, body: str, subject: str = "") -> str:
    """Send commands; return the text of the answer (the sender's next mail)."""
    before = len(sink.to(sender))
    env.send(mail(sender=sender, to=REQUEST, subject=subject, body=body), [REQUEST], mail_from=sender)
    answer = sink.wait(sender, before + 1)[before]
    assert answer["Auto-Submitted"] == "auto-generated"
    return text_of(answer)


def member(env, address: str) -> dict:
    return next(m for m in json.loads(env.cli("member", "list", "mentors", "--json").output) if m["email"] == address)


@pytest.fixture
def group(env, sink):
    env.group("mentors", "ann@example.com", "bea@example.com")
    env.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
    env.start()
    return env


def post(env, sink, subject: str, body: str, sender: str = "ann@example.com") -> None:
    before = len(sink.to("bea@example.com"))
    env.send(mail(sender=sender, subject=subject, body=body), [POST], mail_from=sender)
    sink.wait("bea@example.com", before + 1)


def test_help_lists_the_commands_and_addresses(group, sink):
    text = ask(group, sink, "bea@example.com", "help")
    assert "> help" in text
    for command in ("digest daily", "digest off", "confirm CODE", "nomail", "plain on", "profile name", "topics",
                    "get TOPIC", "search WORDS", "mute TOPIC", "leave", REQUEST, POST):
        assert command in text, command
    listed = {line.split()[0] for line in text.splitlines() if line.startswith("  ") and line.strip()}
    assert set(COMMANDS) <= listed, f"help by mail leaves out {set(COMMANDS) - listed}"


def test_unknown_command_gets_the_help_text(group, sink):
    text = ask(group, sink, "bea@example.com", "please send me the rules")
    assert "did not understand" in text and "digest weekly" in text


def test_command_in_the_subject_with_an_empty_body(group, sink):
    ask(group, sink, "bea@example.com", "", subject="nomail")
    assert member(group, "bea@example.com")["delivery"] == "none"


def test_delivery_commands_change_only_the_senders_membership(group, sink):
    text = ask(group, sink, "bea@example.com", "Hi,\n\ndigest weekly\nplain on\n\nThanks,\nBea\n")
    assert "one weekly digest" in text and "text only" in text
    bea = member(group, "bea@example.com")
    assert (bea["delivery"], bea["plain"]) == ("weekly", True)
    assert member(group, "ann@example.com")["delivery"] == "each"
    ask(group, sink, "bea@example.com", "digest daily")
    assert member(group, "bea@example.com")["delivery"] == "daily"
    ask(group, sink, "bea@example.com", "each\nplain off")
    bea = member(group, "bea@example.com")
    assert (bea["delivery"], bea["plain"]) == ("each", False)
    assert "digest daily, digest weekly or digest off" in ask(group, sink, "bea@example.com", "digest hourly")


def test_digest_members_get_no_copies(group, sink):
    ask(group, sink, "bea@example.com", "digest daily")
    group.cli("member", "add", "mentors", "cy@example.com")
    group.send(mail(sender="ann@example.com", subject="Daily only"), [POST], mail_from="ann@example.com")
    sink.wait("cy@example.com")
    group.drained()
    assert [r.message["Subject"] for r in sink.to("bea@example.com")] == ["mentors: answer to your mail"]


def test_profile_is_set_and_shown_without_control_characters(group, sink):
    text = ask(group, sink, "bea@example.com", "profile name Bea Otieno\nprofile organisation Jua Kali Crafts\n"
                                              "profile country Kenya\nprofile bio I mentor\tfirst-time founders.")
    assert "Jua Kali Crafts" in text
    shown = ask(group, sink, "bea@example.com", "profile")
    assert "name:         Bea Otieno" in shown and "country:      Kenya" in shown
    assert "I mentor first-time founders." in shown
    bea = member(group, "bea@example.com")
    assert (bea["name"], bea["organisation"], bea["country"]) == ("Bea Otieno", "Jua Kali Crafts", "Kenya")


def test_who_is_for_moderators_unless_the_group_allows_members(group, sink):
    assert "Only the group's owners and moderators" in ask(group, sink, "bea@example.com", "who")
    text = ask(group, sink, "mod@example.com", "who")  # a new group hides addresses: no names given, none shown
    assert "3 members:" in text and "  a member - moderator" in text and "@example.com" not in text
    group.cli("group", "set", "mentors", "--addresses", "shown")
    text = ask(group, sink, "mod@example.com", "who")
    assert "3 members:" in text and "ann@example.com" in text and "mod@example.com - moderator" in text
    group.cli("group", "set", "mentors", "--who", "members")
    assert "3 members:" in ask(group, sink, "bea@example.com", "who")


def test_non_members_cannot_read_the_archive(group, sink):
    post(group, sink, "Pricing advice", "How do you price handmade goods?")
    text = ask(group, sink, "zed@example.net", "topics\nsearch pricing\nwho")
    assert text.count("is not a member of mentors") == 3
    assert "Pricing advice" not in text


def test_topics_get_and_search(group, sink):
    post(group, sink, "Pricing handmade goods", "How do you price baskets for export?")
    post(group, sink, "Bookkeeping apps", "Which app do you use for receipts?")
    copy = sink.to("bea@example.com")[0].message
    group.reply(copy, "I add 30% to the cost of materials.", "mod@example.com")
    sink.wait("bea@example.com", 3)  # the reply's copy is in, so the next mail to Bea is an answer

    topics = ask(group, sink, "bea@example.com", "topics")
    assert topics.index("Pricing handmade goods") < topics.index("Bookkeeping apps")  # most recent first
    key = next(t["key"] for t in json.loads(group.cli("topics", "mentors", "--json").output)
               if t["subject"] == "Pricing handmade goods")
    assert f"mentors+{key}@{DOMAIN}" in topics and f"get {key}" in topics

    whole = ask(group, sink, "bea@example.com", f"get {key}")
    assert "How do you price baskets" in whole and "I add 30% to the cost of materials." in whole
    assert whole.index("How do you price baskets") < whole.index("I add 30%")

    found = ask(group, sink, "bea@example.com", "search materials cost")
    assert "Pricing handmade goods" in found and "Bookkeeping" not in found
    assert 'No topic matches "spreadsheets"' in ask(group, sink, "bea@example.com", "search spreadsheets")
    assert "could not find that topic" in ask(group, sink, "bea@example.com", "get nosuchkey")


def test_several_commands_get_one_answer_in_order(group, sink):
    text = ask(group, sink, "bea@example.com", "nomail\nprofile country Ghana\nfrobnicate\n")
    assert text.index("> nomail") < text.index("> profile country Ghana") < text.index("> frobnicate")
    assert len(sink.to("bea@example.com")) == 1


def test_auto_replies_to_the_request_address_are_never_answered(group, sink):
    group.send(mail(sender="bea@example.com", to=REQUEST, subject="Out of office", body="I am away",
                    headers="Auto-Submitted: auto-replied\r\n"), [REQUEST], mail_from="bea@example.com")
    group.send(mail(sender="bea@example.com", to=REQUEST, subject="help", body=""), [REQUEST], mail_from="")
    ask(group, sink, "ann@example.com", "help")  # processed after the two above
    group.drained()
    assert sink.to("bea@example.com") == []


def test_answers_to_one_address_stop_at_the_daily_limit(tmp_path, sink):
    from conftest import Env
    env = Env(tmp_path, sink.port, extra="[limits]\nreplies_per_day = 2\n")
    try:
        env.group("mentors", "bea@example.com")
        env.start()
        for _ in range(4):
            env.send(mail(sender="victim@example.org", to=REQUEST, body="join"), [REQUEST], mail_from="x@example.net")
        ask(env, sink, "bea@example.com", "help")  # processed after the four above
        env.drained()
        assert len(sink.to("victim@example.org")) == 2
    finally:
        env.stop()


def test_leave_command_is_confirmed_by_a_reply(group, sink):
    group.send(mail(sender="bea@example.com", to=REQUEST, subject="", body="leave"), [REQUEST],
               mail_from="bea@example.com")
    got = sink.wait("bea@example.com", 2)  # the answer and the confirmation, in either order
    confirm = next(m for m in got if "Confirm: leave" in m["Subject"])
    assert "Reply to it to leave mentors" in text_of(next(m for m in got if m is not confirm))
    group.reply(confirm, "", "bea@example.com")
    wait_for(lambda: "bea@example.com" not in {m["email"] for m in json.loads(
        group.cli("member", "list", "mentors", "--json").output)}, what="bea removed")
    assert "You left mentors" in [m["Subject"] for m in sink.wait("bea@example.com", 3)]


def test_mute_command_by_topic_key(group, sink):
    post(group, sink, "Trade fair", "Who goes to the fair?")
    key = json.loads(group.cli("topics", "mentors", "--json").output)[0]["key"]
    assert 'no more mail from the topic "Trade fair"' in ask(group, sink, "bea@example.com", f"mute {key}")
    group.send(mail(sender="ann@example.com", to=f"mentors+{key}@{DOMAIN}", subject="Re: Trade fair", body="Me."),
               [f"mentors+{key}@{DOMAIN}"], mail_from="ann@example.com")
    sink.wait("mod@example.com", 2)
    group.drained()
    assert [r.message["Subject"] for r in sink.to("bea@example.com")] == ["[mentors] Trade fair",
                                                                         "mentors: answer to your mail"]


def test_timezone_command_sets_the_members_own_zone(group, sink):
    assert "in Africa/Nairobi" in ask(group, sink, "bea@example.com", "timezone Africa/Nairobi")
    assert member(group, "bea@example.com")["timezone"] == "Africa/Nairobi"
    text = ask(group, sink, "bea@example.com", "timezone Nairobi")
    assert 'do not know the time zone "Nairobi"' in text
    assert member(group, "bea@example.com")["timezone"] == "Africa/Nairobi"
