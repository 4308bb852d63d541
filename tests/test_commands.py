"""commands: what a person asks for by mail, read from the text a phone or desktop client sends."""
from __future__ import annotations

from mailhub.commands import Command, Verdict, clean_text, parse_commands, read_command, read_verdict, reply_word

PREFIX = "[mentors]"
ATTRIBUTION = "On Mon, 3 Mar 2025 at 10:02, Ann Lee <ann@example.org> wrote:"
NOTICE = (
    "On Mon, 3 Mar 2025 at 10:02, mentors-owner@example.org wrote:\n"
    "> A message from bob@example.org to mentors is waiting for your approval.\n"
    "> Subject: Cheap watches\n"
    ">\n"
    "> Reply approve, reject [reason] or discard.\n"
)


def names(commands: list[Command]) -> list[str]:
    return [c.name for c in commands]


# --- read_command --------------------------------------------------------------------------

def test_a_blank_line_is_no_command():
    assert read_command("   \t ") is None


def test_a_command_keeps_its_arguments_and_the_rest_of_the_line():
    command = read_command("  Profile   bio  I teach maths  ")
    assert command == Command(line="Profile bio I teach maths", name="profile",
                              args=("bio", "I", "teach", "maths"), rest="bio I teach maths")


def test_a_command_word_with_trailing_punctuation_is_understood():
    assert read_command("Help!").name == "help"
    assert read_command("topics:").name == "topics"


def test_a_line_that_is_not_a_command_is_kept_but_not_understood():
    command = read_command("Could you add me please")
    assert command is not None
    assert command.name == ""
    assert command.line == "Could you add me please"


# --- parse_commands ------------------------------------------------------------------------

def test_commands_in_the_subject_and_body_are_read_in_order():
    commands = parse_commands("join", "digest\nprofile bio Maths teacher in Leeds\n", PREFIX)
    assert names(commands) == ["join", "digest", "profile"]
    assert commands[2].rest == "bio Maths teacher in Leeds"


def test_the_same_command_in_subject_and_body_counts_once():
    assert names(parse_commands("join", "join\nnomail\n", PREFIX)) == ["join", "nomail"]


def test_a_reply_subject_with_the_list_prefix_reads_as_the_command():
    assert names(parse_commands("Re: [mentors] help", "", PREFIX)) == ["help"]


def test_a_subject_that_is_not_a_command_is_ignored():
    assert names(parse_commands("Question about the list", "topics\n", PREFIX)) == ["topics"]


def test_reading_stops_at_end():
    body = "join\ndigest\nend\nThis part is my letter to the moderators.\nleave\n"
    assert names(parse_commands("", body, PREFIX)) == ["join", "digest"]


def test_reading_stops_at_thanks():
    assert names(parse_commands("", "who\nThanks\nAnn\n", PREFIX)) == ["who"]


def test_a_signature_is_not_read_as_commands():
    assert names(parse_commands("", "who\ntopics\n\n-- \nAnn\nLeeds Maths Circle\n", PREFIX)) == ["who", "topics"]


def test_quoted_text_below_the_commands_is_not_read():
    body = f"help\n\n{ATTRIBUTION}\n> join\n> leave\n> who\n"
    assert names(parse_commands("Re: [mentors] welcome", body, PREFIX)) == ["help"]


def test_sent_from_my_iphone_is_not_taken_for_a_command():
    assert names(parse_commands("", "topics\n\nSent from my iPhone\n", PREFIX)) == ["topics"]


def test_sent_from_my_iphone_under_a_subject_command_is_not_taken_for_a_command():
    # A phone user types the command as the subject; the body holds only the phone's footer.
    assert names(parse_commands("subscribe", "\n\nSent from my iPhone\n", PREFIX)) == ["join"]


def test_a_greeting_line_is_skipped():
    assert names(parse_commands("", "Hi,\n\nwho\n", PREFIX)) == ["who"]
    assert names(parse_commands("", "Dear list owners,\njoin\n", PREFIX)) == ["join"]


def test_a_line_that_is_not_understood_is_answered_as_such():
    commands = parse_commands("", "join\nplease add my son too\n", PREFIX)
    assert names(commands) == ["join", ""]
    assert commands[1].line == "please add my son too"


def test_after_three_lines_not_understood_the_rest_is_taken_for_a_letter():
    body = (
        "who\n"
        "I would like to know more about the group.\n"
        "My daughter is starting secondary school next year.\n"
        "Is there a meeting in Leeds?\n"
        "join\n"
        "Best wishes from a new parent\n"
    )
    assert names(parse_commands("", body, PREFIX)) == ["who", "", "", ""]


def test_at_most_twenty_commands_are_read():
    body = "\n".join(f"get {n}" for n in range(1, 31))
    commands = parse_commands("", body, PREFIX)
    assert len(commands) == 20
    assert commands[-1].args == ("20",)


def test_at_most_twenty_commands_counting_the_subject():
    body = "\n".join(f"get {n}" for n in range(1, 31))
    commands = parse_commands("help", body, PREFIX)
    assert len(commands) == 20
    assert commands[0].name == "help"
    assert commands[-1].args == ("19",)


def test_subscribe_and_unsubscribe_mean_join_and_leave():
    assert names(parse_commands("Subscribe", "", PREFIX)) == ["join"]
    assert names(parse_commands("", "unsubscribe\n", PREFIX)) == ["leave"]
    assert names(parse_commands("", "Unsubscribe.\n", PREFIX)) == ["leave"]


# --- other_address -------------------------------------------------------------------------

def test_join_naming_another_address_is_noticed():
    (command,) = parse_commands("", "join bob@example.org\n", PREFIX)
    assert command.other_address == "bob@example.org"


def test_leave_with_address_equals_is_noticed():
    (command,) = parse_commands("", "leave address=bob@example.org\n", PREFIX)
    assert command.other_address == "bob@example.org"


def test_join_for_oneself_names_no_other_address():
    (command,) = parse_commands("", "join\n", PREFIX)
    assert command.other_address is None
    assert read_command("digest daily").other_address is None


def test_an_address_inside_a_profile_text_is_not_another_address():
    (command,) = parse_commands("", "profile bio write me at x@y.org\n", PREFIX)
    assert command.name == "profile"
    assert command.other_address is None


def test_searching_for_an_address_is_not_another_address():
    (command,) = parse_commands("", "search x@y.org\n", PREFIX)
    assert command.name == "search"
    assert command.other_address is None


# --- reply_word ----------------------------------------------------------------------------

def test_a_one_word_reply_is_read():
    assert reply_word("Re: [mentors] Thursday session", "mute", PREFIX) == "mute"
    assert reply_word("Re: [mentors] Thursday session", "Mute.", PREFIX) == "mute"
    assert reply_word("Re: [mentors] Thursday session", "FOLLOW\n", PREFIX) == "follow"


def test_a_one_word_reply_above_the_quoted_post_is_read():
    body = f"unsubscribe\n\n{ATTRIBUTION}\n> Can we move the session to Thursday?\n>\n> Ann\n"
    assert reply_word("Re: [mentors] Thursday session", body, PREFIX) == "unsubscribe"


def test_a_one_word_reply_from_a_phone_is_read():
    body = f"mute\n\nSent from my iPhone\n\n{ATTRIBUTION}\n> Can we move the session to Thursday?\n"
    assert reply_word("Re: [mentors] Thursday session", body, PREFIX) == "mute"


def test_a_sentence_with_the_word_in_it_is_a_post():
    assert reply_word("Re: [mentors] Thursday session", "mute this thread please", PREFIX) is None


def test_an_empty_reply_reads_the_subject():
    assert reply_word("Re: [mentors] unsubscribe", "", PREFIX) == "unsubscribe"


def test_an_ordinary_reply_is_no_reply_word():
    body = f"Thursday works for me, see you there.\n\n{ATTRIBUTION}\n> Can we move the session to Thursday?\n"
    assert reply_word("Re: [mentors] Thursday session", body, PREFIX) is None


def test_a_command_that_is_not_a_reply_word_is_a_post():
    assert reply_word("Re: [mentors] Thursday session", "help", PREFIX) is None


# --- read_verdict --------------------------------------------------------------------------

def test_approve_is_read():
    assert read_verdict("Re: Held message", "approve") == Verdict("approve")
    assert read_verdict("Re: Held message", "Approved!") == Verdict("approve")


def test_a_greeting_before_the_verdict_is_skipped():
    assert read_verdict("Re: Held message", "Hi,\napprove\n") == Verdict("approve")


def test_reject_keeps_its_reason():
    assert read_verdict("Re: Held message", "reject off topic") == Verdict("reject", "off topic")


def test_a_reason_may_go_on_over_the_next_line():
    verdict = read_verdict("Re: Held message", "Reject: spam links\nsecond line\n")
    assert verdict.action == "reject"
    assert verdict.reason.split() == ["spam", "links", "second", "line"]


def test_discard_is_read():
    assert read_verdict("Re: Held message", "discard\n") == Verdict("discard")


def test_the_quoted_notice_below_the_verdict_is_ignored():
    assert read_verdict("Re: Held message", f"reject\n\n{NOTICE}") == Verdict("reject", "")
    assert read_verdict("Re: Held message", f"approve\n\nSent from my iPhone\n\n{NOTICE}") == Verdict("approve")


def test_an_answer_that_is_no_verdict_is_none():
    assert read_verdict("Re: Held message", f"I am not sure\n\n{NOTICE}") is None
    assert read_verdict("Re: Held message", "I am not sure") is None


def test_an_empty_answer_reads_the_subject():
    assert read_verdict("approve", "") == Verdict("approve")


def test_clean_text_keeps_one_printable_line_within_the_limit() -> None:
    assert clean_text("Dee\r\nBcc: all@example.org\x00\u2028x", 100) == "Dee Bcc: all@example.org x"
    assert clean_text("  Jua   Kali\tCrafts ", 100) == "Jua Kali Crafts"
    assert clean_text("a" * 300, 100) == "a" * 100
