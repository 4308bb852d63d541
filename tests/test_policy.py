from dataclasses import replace

from mailhub.parse import parse_message
from mailhub.policy import ACCEPT, DISCARD, HOLD, PostContext, decide


def ctx(policy="members", role="member", headers="", envelope="ann@example.com", sender="ann@example.com"):
    raw = f"From: {sender}\r\nSubject: hi\r\n{headers}\r\nbody\r\n".encode()
    return PostContext(group_name="mentors", list_id="mentors.lists.example.org", policy=policy,
                       member_role=role, envelope_from=envelope, mail=parse_message(raw))


def test_members_post_and_non_members_are_held():
    assert decide(ctx()).action == ACCEPT
    held = decide(ctx(role=None))
    assert held.action == HOLD and "not a member" in held.reason


def test_open_groups_take_anyone():
    assert decide(ctx(policy="open", role=None)).action == ACCEPT


def test_moderated_groups_hold_all_but_moderators_and_owners():
    assert decide(ctx(policy="moderated")).action == HOLD
    assert decide(ctx(policy="moderated", role=None)).action == HOLD
    assert decide(ctx(policy="moderated", role="moderator")).action == ACCEPT
    assert decide(ctx(policy="moderated", role="owner")).action == ACCEPT


def test_automatic_mail_is_discarded_even_from_members():
    for headers in ("Auto-Submitted: auto-replied\r\n", "Precedence: bulk\r\n", "Precedence: junk\r\n",
                    "Precedence: list\r\n", "List-Id: Mentors <mentors.lists.example.org>\r\n"):
        assert decide(ctx(headers=headers)).action == DISCARD, headers
    assert decide(ctx(envelope="")).action == DISCARD
    assert decide(ctx(headers="Auto-Submitted: no\r\n")).action == ACCEPT


def test_another_lists_id_is_not_a_loop():
    assert decide(ctx(headers="List-Id: <other.lists.example.org>\r\n")).action == ACCEPT


def test_mail_without_a_sender_is_discarded():
    c = ctx()
    assert decide(replace(c, mail=replace(c.mail, from_addr=""))).action == DISCARD
