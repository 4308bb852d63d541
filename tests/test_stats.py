"""`mailhub stats`: a programme's figures from an imported archive of known dates, checked figure by
figure, for the whole time, month by month and week by week in the group's time zone, as JSON, CSV
and the table a person reads; all groups at once; zeros for a group with no posts; one-line errors
for bad input. The percentile method alone at the end."""
from __future__ import annotations

import csv
import io
import json
from itertools import pairwise
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Optional

import pytest
from sqlmodel import Session, select

from conftest import DOMAIN, Env
from mailhub.db import make_engine
from mailhub.models import Departure, Group, Member, Message, Topic
from mailhub.stats.figures import FIELDS, nearest_rank, top_topics, waiting_topics
from test_archive import envelope, write_mbox
from test_cli import assert_error

UTC = timezone.utc


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


# Who, with their role, delivery, country and when they joined (and, for eve, left).
MEMBERS = [
    ("ann@example.com", "member", "each", "", utc(1, 2, 10)),
    ("bea@example.com", "mentor", "weekly", "Kenya", utc(1, 5, 10)),
    ("eve@example.com", "mentor", "each", "Uganda", utc(1, 8, 10)),  # removed on Feb 20
    ("dan@example.com", "moderator", "each", "Tanzania", utc(1, 30, 10)),
    ("cat@example.com", "member", "daily", " kenya ", utc(2, 10, 10)),  # the same country as bea's
    ("fay@example.com", "member", "each", "", utc(3, 3, 10)),  # delivery stopped for bounces on Mar 20
]
EVE_LEFT = utc(2, 20, 10)
FAY_STOPPED = utc(3, 20, 10)
TAX_SOLVED = utc(2, 12, 6)

# (n, author, subject, UTC time, the n it replies to). The group's zone is Africa/Nairobi (UTC+3).
POSTS = [
    (1, "ann", "Pricing", utc(1, 15, 9), None),
    (2, "bea", "Re: Pricing", utc(1, 15, 14), 1),  # a mentor answers after exactly 5 hours
    (3, "eve", "Re: Pricing", utc(1, 17, 9), 1),  # a mentor who has left since
    (4, "ann", "Re: Pricing", utc(1, 18, 9), 3),
    (5, "ann", "Loans", utc(1, 20, 8), None),
    (6, "ann", "Re: Loans", utc(1, 21, 8), 5),  # only its starter: never answered
    (7, "bea", "Export", utc(1, 25, 12), None),
    (8, "dan", "Re: Export", utc(2, 2, 12), 7),  # answered after 192 hours, in the next month
    (9, "cat", "Tax", utc(2, 11, 6), None),  # no reply, but marked solved
    (10, "dan", "Radio", utc(2, 29, 23, 30), None),  # 02:30 on March 1st in Nairobi: a March topic
    (12, "ann", "Re: Market", utc(3, 5, 11, 30), 11),  # before its parent in the file: a topic merged into it
    (11, "bea", "Market", utc(3, 5, 10), None),  # answered after 1.5 hours
    (13, "cat", "Re: Market", utc(3, 6, 10), 11),
    (14, "dan", "Re: Market", utc(3, 7, 10), 11),
]

# January, February and March 2024 in Nairobi, figure by figure (see the comments above).
JANUARY = {"members": 4, "joined": 4, "left": 0, "active_members": 3, "posts": 7, "topics": 3, "replies": 4,
           "answered_topics": 1, "answer_rate": 0.3333, "median_first_reply_hours": 5.0,
           "p90_first_reply_hours": 5.0, "unanswered_topics": 2, "solved_topics": 0, "mentors_replying": 2,
           "countries": 3, "digest_readers": 1, "delivery_stopped": 0}
FEBRUARY = {"members": 4, "joined": 1, "left": 1, "active_members": 2, "posts": 2, "topics": 1, "replies": 1,
            "answered_topics": 0, "answer_rate": 0.0, "median_first_reply_hours": None,
            "p90_first_reply_hours": None, "unanswered_topics": 1, "solved_topics": 1, "mentors_replying": 1,
            "countries": 2, "digest_readers": 2, "delivery_stopped": 0}
MARCH = {"members": 5, "joined": 1, "left": 0, "active_members": 4, "posts": 5, "topics": 2, "replies": 3,
         "answered_topics": 1, "answer_rate": 0.5, "median_first_reply_hours": 1.5,
         "p90_first_reply_hours": 1.5, "unanswered_topics": 2, "solved_topics": 0, "mentors_replying": 1,
         "countries": 2, "digest_readers": 2, "delivery_stopped": 1}
# From the beginning to the end of March: first replies after 1.5, 5 and 192 hours.
WHOLE = {"members": 5, "joined": 6, "left": 1, "active_members": 5, "posts": 14, "topics": 6, "replies": 8,
         "answered_topics": 3, "answer_rate": 0.5, "median_first_reply_hours": 5.0,
         "p90_first_reply_hours": 192.0, "unanswered_topics": 2, "solved_topics": 1, "mentors_replying": 3,
         "countries": 2, "digest_readers": 2, "delivery_stopped": 1}
# This programme has no mentoring pairs (tests/test_pairs.py counts them).
for _figures in (JANUARY, FEBRUARY, MARCH, WHOLE):
    _figures.update(pairs=0, active_pairs=0, pairs_3plus_exchanges=0)
ZEROS = {name: None if name in ("answer_rate", "median_first_reply_hours", "p90_first_reply_hours") else 0
         for name in FIELDS}


def post(n: int, author: str, subject: str, at: datetime, parent: Optional[int]) -> tuple[bytes, bytes]:
    """A mail as an old list's archive holds it, with its mbox "From " line."""
    replying = f"In-Reply-To: <p{parent}@example.com>\r\n" if parent else ""
    raw = (f"From: {author.title()} <{author}@example.com>\r\nTo: mentors@{DOMAIN}\r\nSubject: {subject}\r\n"
           f"Message-ID: <p{n}@example.com>\r\nDate: {format_datetime(at)}\r\n{replying}\r\n"
           f"Message {n} about {subject}.\r\n").encode()
    return envelope(f"{author}@example.com", at), raw


@pytest.fixture
def programme(env: Env, tmp_path: Path) -> Env:
    """The group `mentors` in Nairobi with the MEMBERS and the POSTS imported from an mbox."""
    env.group("mentors")
    env.cli("group", "set", "mentors", "--timezone", "Africa/Nairobi")
    for email, role, delivery, _, _ in MEMBERS:
        env.cli("member", "add", "mentors", email, "--role", role, "--delivery", delivery)
    with Session(make_engine(env.config.database.url)) as s:  # what the CLI cannot set: the past
        for email, _, _, country, joined in MEMBERS:
            member = s.exec(select(Member).where(Member.email == email)).one()
            member.created_at, member.country = joined, country
            member.disabled_at = FAY_STOPPED if email == "fay@example.com" else None
            s.add(member)
        s.commit()
    env.cli("member", "remove", "mentors", "eve@example.com")
    source = write_mbox(tmp_path / "old-list.mbox", [post(*p) for p in POSTS])
    assert env.cli("import", "mentors", str(source)).output.startswith("imported 14 messages")
    with Session(make_engine(env.config.database.url)) as s:
        departure = s.exec(select(Departure).where(Departure.email == "eve@example.com")).one()
        assert (departure.role, departure.joined_at) == ("mentor", utc(1, 8, 10))
        departure.left_at = EVE_LEFT
        tax = s.get(Topic, s.exec(select(Message.topic_id).where(Message.message_id == "p9@example.com")).one())
        tax.solved_at, tax.solved_by = TAX_SOLVED, "cat@example.com"  # as `solved` by mail will
        s.add_all([departure, tax])
        s.commit()
    return env


def stats(env: Env, *args: str) -> list[dict[str, Any]]:
    return json.loads(env.cli("stats", *args, "--json").output)


def figures(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in FIELDS}


def test_every_figure_of_an_imported_archive_from_the_beginning(programme):
    (row,) = stats(programme, "mentors", "--until", "2024-03-31")
    assert list(row) == ["group", "since", "until", *FIELDS]
    assert (row["group"], row["since"], row["until"]) == ("mentors", None, "2024-04-01T00:00:00+03:00")
    assert figures(row) == WHOLE
    # The reply filed before its parent made a topic that was merged into the parent's: one topic.
    topics = json.loads(programme.cli("topics", "mentors", "--json").output)
    assert sorted(t["subject"] for t in topics) == ["Export", "Loans", "Market", "Pricing", "Radio", "Tax"]


def test_month_by_month_in_the_groups_time_zone(programme):
    rows = stats(programme, "mentors", "--since", "2024-01-01", "--until", "2024-03-31", "--by", "month")
    assert [(r["since"], r["until"]) for r in rows] == [
        ("2024-01-01T00:00:00+03:00", "2024-02-01T00:00:00+03:00"),
        ("2024-02-01T00:00:00+03:00", "2024-03-01T00:00:00+03:00"),
        ("2024-03-01T00:00:00+03:00", "2024-04-01T00:00:00+03:00")]
    assert [figures(r) for r in rows] == [JANUARY, FEBRUARY, MARCH]
    # Members at the end of one month, plus who joined, less who left, are those at the end of the next.
    for before, after in pairwise(rows):
        assert before["members"] + after["joined"] - after["left"] == after["members"]
    # One month asked for alone gives its column.
    (february,) = stats(programme, "mentors", "--since", "2024-02-01", "--until", "2024-02-29")
    assert figures(february) == FEBRUARY
    # Without --since the months start with the first post or member: January (Nairobi).
    assert [figures(r) for r in stats(programme, "mentors", "--until", "2024-03-31", "--by", "month")] == \
        [JANUARY, FEBRUARY, MARCH]


def test_a_post_late_on_the_last_utc_day_of_a_month_counts_in_the_next_month_in_nairobi(programme):
    """Post 10, 23:30 UTC on February 29th, is 02:30 on March 1st in Nairobi."""
    by_month = stats(programme, "mentors", "--since", "2024-02-01", "--until", "2024-03-31", "--by", "month")
    assert [(r["posts"], r["topics"]) for r in by_month] == [(2, 1), (5, 2)]
    (march_first,) = stats(programme, "mentors", "--since", "2024-03-01", "--until", "2024-03-01")
    assert (march_first["posts"], march_first["topics"], march_first["unanswered_topics"]) == (1, 1, 2)
    programme.cli("group", "set", "mentors", "--timezone", "UTC")
    by_month = stats(programme, "mentors", "--since", "2024-02-01", "--until", "2024-03-31", "--by", "month")
    assert [(r["since"], r["posts"], r["topics"]) for r in by_month] == [
        ("2024-02-01T00:00:00+00:00", 3, 2), ("2024-03-01T00:00:00+00:00", 4, 1)]


def test_weeks_start_on_monday_and_the_first_and_last_are_clipped(programme):
    # Sunday January 14th to Monday January 22nd: a day, the week of Monday the 15th, a day.
    rows = stats(programme, "mentors", "--since", "2024-01-14", "--until", "2024-01-22", "--by", "week")
    assert [(r["since"], r["until"], r["posts"], r["topics"]) for r in rows] == [
        ("2024-01-14T00:00:00+03:00", "2024-01-15T00:00:00+03:00", 0, 0),
        ("2024-01-15T00:00:00+03:00", "2024-01-22T00:00:00+03:00", 6, 2),
        ("2024-01-22T00:00:00+03:00", "2024-01-23T00:00:00+03:00", 0, 0)]
    assert rows[1]["answered_topics"] == 1 and rows[1]["unanswered_topics"] == 1  # Loans waits
    text = programme.cli("stats", "mentors", "--since", "2024-01-14", "--until", "2024-01-22", "--by", "week").output
    assert text.splitlines()[1].split() == ["FIGURE", "2024-01-08", "2024-01-15", "2024-01-22"]


def test_the_table_a_person_reads(programme):
    text = programme.cli("stats", "mentors", "--since", "2024-01-01", "--until", "2024-03-31", "--by", "month").output
    lines = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:]}
    assert text.splitlines()[0] == "mentors by month (Africa/Nairobi; months from the 1st, 00:00 local time)"
    assert lines["FIGURE"] == ["2024-01", "2024-02", "2024-03"]
    assert lines["posts"] == ["7", "2", "5"]
    assert lines["answer_rate"] == ["33%", "0%", "50%"]
    assert lines["median_first_reply_hours"] == ["5.0", "-", "1.5"]
    assert lines["mentors_replying"] == ["2", "1", "1"]
    text = programme.cli("stats", "mentors", "--until", "2024-03-31").output
    assert text.splitlines()[0] == "mentors: the beginning to 2024-04-01 00:00 (Africa/Nairobi)"
    shown = {line.split()[0]: " ".join(line.split()[1:]) for line in text.splitlines()[1:]}
    assert shown["p90_first_reply_hours"] == "192.0"
    assert shown["countries"] == "2 (Kenya, Tanzania)"
    assert list(shown) == list(FIELDS)


def test_csv_has_a_header_and_the_same_figures_as_json(programme):
    args = ("mentors", "--since", "2024-01-01", "--until", "2024-03-31", "--by", "month")
    text = programme.cli("stats", *args, "--csv").output
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == ",".join(["group", "since", "until", *FIELDS])
    as_json = stats(programme, *args)
    assert [{k: (None if v == "" else v) for k, v in r.items()} for r in rows] == \
        [{k: (None if v is None else str(v)) for k, v in r.items()} for r in as_json]


def test_every_group_at_once_and_zeros_for_a_group_with_no_posts(programme):
    programme.group("quiet")
    rows = stats(programme, "--until", "2024-03-31")
    assert [(r["group"], r["until"]) for r in rows] == [("mentors", "2024-04-01T00:00:00+03:00"),
                                                        ("quiet", "2024-04-01T00:00:00+00:00")]
    assert figures(rows[0]) == WHOLE and figures(rows[1]) == ZEROS
    rows = list(csv.DictReader(io.StringIO(programme.cli("stats", "--since", "2024-01-01", "--until", "2024-03-31",
                                                         "--by", "month", "--csv").output)))
    assert [(r["group"], r["since"][:7], r["posts"]) for r in rows] == [
        ("mentors", "2024-01", "7"), ("mentors", "2024-02", "2"), ("mentors", "2024-03", "5"),
        ("quiet", "2024-01", "0"), ("quiet", "2024-02", "0"), ("quiet", "2024-03", "0")]
    text = programme.cli("stats").output
    assert text.count("\n  members ") == 2 and text.startswith("mentors: the beginning to ")
    assert "\n\nquiet: the beginning to " in text


def test_a_group_with_no_posts_prints_zeros_not_errors(env):
    env.group("quiet")
    (row,) = stats(env, "quiet")
    assert figures(row) == ZEROS
    shown = {line.split()[0]: line.split()[1] for line in env.cli("stats", "quiet").output.splitlines()[1:]}
    assert shown["posts"] == "0" and shown["answer_rate"] == "-" and shown["median_first_reply_hours"] == "-"
    rows = stats(env, "quiet", "--by", "week")  # no first post to start from: this week alone
    assert len(rows) == 1 and figures(rows[0]) == ZEROS
    now = datetime.now(UTC)
    assert now - timedelta(days=7) <= datetime.fromisoformat(rows[0]["since"]) <= now
    rows = stats(env, "quiet", "--since", "2024-01-01", "--until", "2024-02-29", "--by", "month")
    assert [figures(r) for r in rows] == [ZEROS, ZEROS]


@pytest.mark.parametrize("args, fragments", [
    (("--since", "2024-02-30"), ("--since", "'2024-02-30' is not a date like 2024-03-01")),
    (("--until", "yesterday"), ("--until", "'yesterday' is not a date")),
    (("--since", "20240301"), ("'20240301' is not a date",)),
    (("--since", "2024-03-02", "--until", "2024-03-01"), ("--until 2024-03-01 is before --since 2024-03-02",)),
    (("mentrs",), ("no group named 'mentrs' (groups: mentors)",)),
    (("--json", "--csv"), ("--json and --csv cannot be used together",)),
    (("--since", "2999-01-01"), ("--since 2999-01-01 is in the future",)),
])
def test_bad_input_is_a_one_line_error(env, args, fragments):
    env.group("mentors")
    assert_error(env.cli("stats", *args, ok=False), *fragments)


def test_an_unknown_period_is_a_usage_error(env):
    result = env.cli("stats", "--by", "year", ok=False)
    assert result.exit_code == 2 and "--by takes week or month, not 'year'" in result.output


def test_the_topics_that_drew_most_replies_and_the_questions_still_waiting(programme):
    """What the monthly report lists beside the figures."""
    keys = {t["subject"]: t["key"] for t in json.loads(programme.cli("topics", "mentors", "--json").output)}
    april = utc(3, 31, 21)  # April 1st, 00:00 in Nairobi
    with Session(make_engine(programme.config.database.url)) as s:
        group = s.exec(select(Group).where(Group.name == "mentors")).one()
        assert top_topics(s, group, None, april, 10) == [  # ties: the older topic first; Tax and Radio: none
            ("Pricing", keys["Pricing"], 3), ("Market", keys["Market"], 3),
            ("Loans", keys["Loans"], 1), ("Export", keys["Export"], 1)]
        # Export's reply came in February; Market started in March, so its first post is no reply.
        assert top_topics(s, group, utc(1, 31, 21), april, 10) == [("Market", keys["Market"], 3),
                                                                 ("Export", keys["Export"], 1)]
        assert top_topics(s, group, utc(1, 31, 21), april, 1) == [("Market", keys["Market"], 3)]
        assert waiting_topics(s, programme.config, group, april, 10) == [
            ("Loans", keys["Loans"], utc(1, 20, 8), "Ann"), ("Radio", keys["Radio"], utc(2, 29, 23, 30), "Dan")]
        assert waiting_topics(s, programme.config, group, utc(1, 31, 21), 10) == [
            ("Loans", keys["Loans"], utc(1, 20, 8), "Ann"), ("Export", keys["Export"], utc(1, 25, 12), "Bea")]
        # Tax waited from its first post until it was marked solved.
        assert [t[0] for t in waiting_topics(s, programme.config, group, TAX_SOLVED - timedelta(minutes=1), 10)] == \
            ["Loans", "Tax"]
        assert [t[0] for t in waiting_topics(s, programme.config, group, TAX_SOLVED + timedelta(minutes=1), 10)] == \
            ["Loans"]
        assert [t[0] for t in waiting_topics(s, programme.config, group, april, 1)] == ["Loans"]


# ---- the percentile, alone ---------------------------------------------------------------------

def test_nearest_rank_percentiles_are_always_a_measured_value():
    assert nearest_rank([], 50) is None
    assert nearest_rank([7.0], 50) == 7.0 and nearest_rank([7.0], 90) == 7.0
    assert nearest_rank([192.0, 1.5, 5.0], 50) == 5.0  # rank ceil(1.5) = 2 of the sorted values
    assert nearest_rank([192.0, 1.5, 5.0], 90) == 192.0  # rank ceil(2.7) = 3
    assert nearest_rank([4.0, 1.0, 3.0, 2.0], 50) == 2.0  # an even count: the lower middle one
    values = [float(v) for v in range(1, 11)]
    assert nearest_rank(values, 90) == 9.0  # rank 9 of 10, exactly
    assert nearest_rank(values + [11.0], 90) == 10.0  # rank ceil(9.9) = 10
    assert nearest_rank(values, 100) == 10.0 and nearest_rank(values, 1) == 1.0
    with pytest.raises(ValueError):
        nearest_rank(values, 0)
