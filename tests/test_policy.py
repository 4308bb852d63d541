import string
from dataclasses import replace

from mailhub.body import MAX_DEPTH, MAX_PARTS
from mailhub.config import REPO_TEMPLATES
from mailhub.i18n.catalogs import environment
from mailhub.parse import parse_message
from mailhub.policy import ACCEPT, BY_CLI, BY_LINK, DISCARD, HOLD, REASONS, REJECT, PostContext, decide, explain


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


def test_every_reason_a_person_is_told_is_found_again_with_its_values():
    for code, text in REASONS.items():
        values = {name: "7" for _, name, _, _ in string.Formatter().parse(text) if name}
        assert explain(text.format(**values)) == {"code": code, **values}
    assert explain("please post job ads on the board") == {}  # a moderator's own words


def test_mail_past_the_mime_limits_is_refused_with_a_reason_a_notice_can_translate():
    deep = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(MAX_DEPTH + 2))
    many = 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" * (
        MAX_PARTS + 1) + "--b--\r\n"
    for body, expected in ((deep, {"code": "too_deep", "depth": str(MAX_DEPTH)}),
                           (many, {"code": "too_many_parts", "parts": str(MAX_PARTS)})):
        c = ctx()
        mail = parse_message(f"From: ann@example.com\r\nSubject: hi\r\n{body}".encode())
        refused = decide(replace(c, mail=mail))
        assert refused.action == REJECT and explain(refused.reason) == expected


def test_notices_say_each_reason_in_english_as_it_is_stored():
    template = environment(REPO_TEMPLATES, "en").from_string('{% import "reasons.txt" as r %}{{ r.said(why, text) }}')
    for text in REASONS.values():
        stored = text.format(limit=20, depth=MAX_DEPTH, parts=MAX_PARTS, by="ann@example.org")
        assert template.render(why=explain(stored), text=stored) == stored
    for by in (BY_LINK, BY_CLI):
        stored = REASONS["approved_by"].format(by=by)
        assert template.render(why=explain(stored), text=stored) == stored
