"""Mentoring pairs (issue 22): `mailhub pair add/list/end`, over real SMTP. The mentor and the
mentee each get a welcome naming the other and never their address; mail to the pair's address
reaches only the other one (and the safeguarding address), threads like any reply, and reaches
nobody else in the group: not as mail, not in `topics`, digests or the archive. Anyone else
writing to it gets 550 at RCPT, as does everyone once the pair ended or one of the two left.
Staff see counts each way, last contact, days quiet and exchanges; quiet pairs are listed by
`pair list --quiet` and in the monthly report; `mailhub stats` counts pairs. The pure rules at
the end."""
from __future__ import annotations

import email.utils
import json
import re
import smtplib
from datetime import datetime, timedelta, timezone
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from conftest import DOMAIN, Env, mail, text_of, wait_for
from mailhub.models import Member, Pair
from mailhub.pairs import count_exchanges, new_key, pairing_problem, state_of
from mailhub.router import PAIR, address_for, parse_address
from test_addresses_hidden import forms, readable

POST = f"mentors@{DOMAIN}"
OWN, ANN, BOB, CAT, DEE = ("own@example.com", "ann@example.com", "bob@example.net", "cat@example.org",
                           "dee@example.com")
STRANGER, STAFF = "eve@elsewhere.example", "safeguarding@charity.example"
# address: (name, role, delivery). Bob has no name anywhere: he is "a member".
MEMBERS = {OWN: ("Olga", "owner", "each"), ANN: ("Ann Wanjiru", "mentor", "each"), BOB: ("", "member", "each"),
           CAT: ("Cat", "member", "each"), DEE: ("Dee", "member", "daily")}


def programme(env: Env, *, private_copy: str = "") -> None:
    env.cli("group", "create", "mentors")  # addresses hidden: a new group's default
    for address, (name, role, delivery) in MEMBERS.items():
        env.cli("member", "add", "mentors", address, "--role", role, "--delivery", delivery,
                *(["--name", name] if name else []))
    if private_copy:
        env.cli("group", "set", "mentors", "--private-copy", private_copy)


def add_pair(env: Env, mentor: str, mentee: str, *args: str) -> str:
    """`pair add`; returns the pair's address."""
    out = env.cli("pair", "add", "mentors", mentor, mentee, *args).output
    found = re.search(r"(mentors-pair-[a-z0-9]+@" + re.escape(DOMAIN) + ")", out)
    assert found, out
    return found.group(1)


def subject_of(msg) -> str:  # noqa: ANN001
    return str(make_header(decode_header(str(msg["Subject"]))))


def mails(sink, to: str, subject: str) -> list:  # noqa: ANN001
    return [r.message for r in sink.to(to) if subject in subject_of(r.message)]


def leaks(sink, member: str) -> list[tuple[str, str]]:  # noqa: ANN001
    """(other member's address, subject) for every other member's address, in any form, in any
    byte of anything `member` received."""
    return [(other, subject_of(r.message)) for r in sink.to(member) for text in (readable(r.data),)
            for other in MEMBERS if other != member and any(f in text for f in forms(other))]


def refused(env: Env, sender: str, to: str) -> tuple[int, bytes]:
    """The SMTP reply to RCPT TO:<to> in mail from `sender`, which must refuse it."""
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        env.send(mail(sender=sender, to=to, subject="Hello you", body="Can we talk?"), [to], mail_from=sender)
    return caught.value.recipients[to]


def pairs(env: Env, *args: str) -> list[dict]:
    return json.loads(env.cli("pair", "list", "mentors", "--json", *args).output)


# ---- the channel, over SMTP -----------------------------------------------------------------------

def test_a_pair_talks_privately_through_its_own_address(env: Env, sink, tmp_path: Path):  # noqa: ANN001
    programme(env, private_copy=STAFF)
    env.start()
    pair = add_pair(env, ANN, BOB)

    # Both welcomes: each names the other (Bob has no name: "a member"), gives the pair's address
    # and says who sees what; neither holds the other's address in any byte.
    to_ann = wait_for(lambda: mails(sink, ANN, "Your mentoring pair"), what="Ann's welcome")[0]
    to_bob = wait_for(lambda: mails(sink, BOB, "Your mentoring pair"), what="Bob's welcome")[0]
    assert subject_of(to_ann) == "Your mentoring pair in mentors: you and a member"
    assert subject_of(to_bob) == "Your mentoring pair in mentors: you and Ann Wanjiru"
    ann_text, bob_text = text_of(to_ann), text_of(to_bob)
    assert "Hello Ann Wanjiru," in ann_text and "You are now the mentor of a member in mentors." in ann_text
    assert "Hello," in bob_text and "Your mentor in mentors is now Ann Wanjiru." in bob_text
    for text in (ann_text, bob_text):
        assert f"send your mail to {pair}" in text
        assert "Neither of you sees the other's address" in text
        assert "The rest of the group does not see these messages." in text
        assert f"the programme's staff ({STAFF}) get a copy" in text
    assert email.utils.parseaddr(to_bob["Reply-To"])[1] == pair  # replying to the welcome writes to Ann
    assert leaks(sink, ANN) == [] and leaks(sink, BOB) == []

    # A post to the whole group, so digests have something to show.
    env.send(mail(subject="Market day", body="Stalls open at nine.", sender="Cat <cat@example.org>"), [POST],
             mail_from=CAT)
    wait_for(lambda: mails(sink, OWN, "Market day"), what="the group's copy of Cat's post")

    # The mentor writes: only the mentee (and the safeguarding address) get it, from the pair's
    # address, with no trace of the mentor's address.
    first = ("From: Ann Wanjiru <ann@example.com>\r\nTo: " + pair + "\r\nSubject: Our first meeting\r\n"
             "Message-ID: <meet-1@example.com>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
             "Shall we talk on Thursday about your business plan?\r\n")
    env.send(first, [pair], mail_from=ANN)
    got = wait_for(lambda: mails(sink, BOB, "Our first meeting"), what="Bob's copy")[0]
    assert email.utils.parseaddr(got["From"]) == ("Ann Wanjiru via mentors", pair)
    assert subject_of(got) == "Our first meeting" and got["Message-ID"] == "<meet-1@example.com>"
    assert "talk on Thursday about your business plan" in text_of(got)
    assert "your mentoring partner in mentors" in text_of(got)

    # The mentee answers from his mail program, to the From address, threaded by its headers.
    answer = ("From: bob@example.net\r\nTo: " + pair + "\r\nSubject: Re: Our first meeting\r\n"
              "Message-ID: <meet-2@example.net>\r\nIn-Reply-To: <meet-1@example.com>\r\n"
              "References: <meet-1@example.com>\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n"
              "Thursday works. I will bring my numbers.\r\n")
    assert email.utils.parseaddr(got["Reply-To"] or got["From"])[1] == pair
    env.send(answer, [pair], mail_from=BOB)
    back = wait_for(lambda: mails(sink, ANN, "Re: Our first meeting"), what="Ann's copy of the answer")[0]
    assert email.utils.parseaddr(back["From"]) == ("a member via mentors", pair)
    assert back["In-Reply-To"] == "<meet-1@example.com>" and back["References"] == "<meet-1@example.com>"
    assert "I will bring my numbers." in text_of(back)

    # Nobody else may write to it, and the answer does not say whether they are a member.
    assert refused(env, CAT, pair)[0] == 550
    assert refused(env, STRANGER, pair) == refused(env, CAT, pair)
    staff = wait_for(lambda: len(sink.to(STAFF)) >= 2 and sink.to(STAFF), what="the two safeguarding copies")
    env.drained()
    assert {subject_of(r.message) for r in staff} == {"Our first meeting", "Re: Our first meeting"}
    assert "ann@example.com" in readable(staff[0].data)  # staff see who wrote to whom

    # Neither saw the other's address in anything; the rest of the group saw nothing of it.
    assert leaks(sink, ANN) == [] and leaks(sink, BOB) == []
    env.cli("digest", "send", "mentors")
    digest = wait_for(lambda: mails(sink, DEE, "digest"), what="Dee's digest")[0]
    assert "Market day" in text_of(digest)
    for other in (OWN, CAT, DEE):
        for r in sink.to(other):
            text = readable(r.data)
            assert "our first meeting" not in text and "business plan" not in text, (other, subject_of(r.message))
    topics = json.loads(env.cli("topics", "mentors", "--json").output)
    assert [t["subject"] for t in topics] == ["Market day"]
    env.cli("export", "mentors", "--mbox", str(tmp_path / "archive.mbox"))
    archive = (tmp_path / "archive.mbox").read_text(errors="replace")
    assert "Market day" in archive and "first meeting" not in archive

    # What staff see: counts each way, the last contact, an exchange (Bob answered Ann).
    (row,) = pairs(env)
    assert row["address"] == pair and row["key"] == pair.split("-pair-")[1].split("@")[0]
    assert (row["mentor"]["email"], row["mentor"]["name"], row["mentee"]["email"]) == (ANN, "Ann Wanjiru", BOB)
    assert (row["mentor_to_mentee"], row["mentee_to_mentor"], row["exchanges"]) == (1, 1, 1)
    assert row["last_contact"] and row["days_quiet"] == 0 and row["quiet"] is False
    table = env.cli("pair", "list", "mentors").output
    assert "Ann Wanjiru <ann@example.com>" in table and BOB in table and pair in table  # admins see addresses

    # Ending it: both are told, and the address takes no more mail.
    assert "both are told" in env.cli("pair", "end", "mentors", row["key"]).output
    for member in (ANN, BOB):
        ended = wait_for(lambda member=member: mails(sink, member, "has ended"), what=f"{member}'s notice")[0]
        assert pair in text_of(ended)
    assert subject_of(mails(sink, ANN, "has ended")[0]) == "Your mentoring pair with a member has ended"
    assert refused(env, ANN, pair)[0] == 550
    assert pairs(env) == [] and pairs(env, "--ended")[0]["ended"]
    env.drained()
    assert leaks(sink, ANN) == [] and leaks(sink, BOB) == []


def test_a_member_who_is_removed_ends_their_pair_and_the_other_is_told(env: Env, sink):  # noqa: ANN001
    programme(env)
    env.start()
    pair = add_pair(env, ANN, BOB)
    wait_for(lambda: mails(sink, BOB, "Your mentoring pair"), what="Bob's welcome")
    assert "The programme's staff" not in text_of(mails(sink, BOB, "Your mentoring pair")[0])  # no safeguarding copy
    env.cli("member", "remove", "mentors", BOB)
    notice = wait_for(lambda: mails(sink, ANN, "has ended"), what="Ann's notice")[0]
    assert f"Mail to {pair} no longer reaches them." in text_of(notice)
    assert refused(env, ANN, pair)[0] == 550
    assert pairs(env) == []
    (ended,) = pairs(env, "--ended")
    assert ended["mentee"] == {"email": BOB, "name": "", "member": False} and ended["ended"]
    env.drained()
    assert not mails(sink, BOB, "has ended")  # the one who left gets no pair notice
    # The mentor's leaving ends it the same way.
    env.cli("member", "add", "mentors", BOB)
    add_pair(env, ANN, BOB)
    env.cli("member", "remove", "mentors", ANN)
    assert pairs(env) == [] and len(pairs(env, "--ended")) == 2


# ---- quiet pairs, the report and the figures ---------------------------------------------------------

def test_quiet_pairs_are_listed_and_reported_and_pairs_are_counted(env: Env, sink):  # noqa: ANN001
    programme(env)
    env.cli("member", "add", "mentors", "fay@example.com", "--name", "Fay")
    today = datetime.now(timezone.utc).date()
    long_ago = f"{today - timedelta(days=70):%Y-%m-%d}"
    env.start()
    quiet = add_pair(env, ANN, BOB, "--started", long_ago)  # never wrote
    busy = add_pair(env, CAT, DEE, "--started", long_ago)  # write now: four messages, three answers
    add_pair(env, OWN, "fay@example.com")  # new today: not quiet yet
    for n, writer in enumerate((CAT, DEE, CAT, DEE)):
        env.send(mail(sender=writer, to=busy, subject="Re: Prices" if n else "Prices", body=f"note {n}"),
                 [busy], mail_from=writer)
        reader = DEE if writer == CAT else CAT
        wait_for(lambda n=n, reader=reader: len(mails(sink, reader, "Prices")) == n // 2 + 1,
                 what=f"message {n} passed on")

    listed = pairs(env)
    assert [(r["mentor"]["email"], r["quiet"]) for r in listed] == [(ANN, True), (CAT, False), (OWN, False)]
    assert listed[0]["days_quiet"] == 70 and listed[0]["last_contact"] is None
    assert (listed[1]["mentor_to_mentee"], listed[1]["mentee_to_mentor"], listed[1]["exchanges"]) == (2, 2, 3)
    assert listed[1]["days_quiet"] == 0
    (only,) = pairs(env, "--quiet")
    assert only["address"] == quiet
    text = env.cli("pair", "list", "mentors", "--quiet").output
    assert "Ann Wanjiru <ann@example.com>" in text and "Cat" not in text and "70" in text

    # This month's report (up to now) lists the quiet pair; last month's, as things were at its
    # end, also the busy pair, which had not written yet.
    month = f"{today:%Y-%m}"
    report = env.cli("report", "mentors", "--month", month).output
    section = report.split("== Quiet mentoring pairs ==")[1].split("\n-- ")[0]
    assert "Open pairs with no message for 21 days or more at the end of the month:" in section
    assert "- Ann Wanjiru (mentor) and a member (mentee)\n  70 days quiet, no message yet" in section
    assert "Cat" not in section and "Olga" not in section
    assert re.search(r"^Mentoring pairs +3 ", report, re.M)
    assert re.search(r"^Mentoring pairs who wrote +1 +0 +\+1$", report, re.M)
    assert re.search(r"^Mentoring pairs with 3 or more exchanges +1 +0 +\+1$", report, re.M)
    last_month = f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"
    before = env.cli("report", "mentors", "--month", last_month).output.split("== Quiet mentoring pairs ==")[1]
    assert "Ann Wanjiru (mentor)" in before and "Cat (mentor) and Dee (mentee)" in before
    assert "Olga" not in before

    # The figures, from the beginning and for a time before any pair.
    (now,) = json.loads(env.cli("stats", "mentors", "--json").output)
    assert (now["pairs"], now["active_pairs"], now["pairs_3plus_exchanges"]) == (3, 1, 1)
    early = f"{today - timedelta(days=100):%Y-%m-%d}"
    (then,) = json.loads(env.cli("stats", "mentors", "--until", early, "--json").output)
    assert (then["pairs"], then["active_pairs"], then["pairs_3plus_exchanges"]) == (0, 0, 0)

    # A group without pairs keeps its report as it was: no pair rows, no section.
    env.cli("group", "create", "plain")
    plain = env.cli("report", "plain", "--month", month).output
    assert "Mentoring pairs" not in plain and "Quiet mentoring pairs" not in plain


def test_a_quiet_pair_in_the_report_mailed_to_owners(env: Env, sink, tmp_path: Path):  # noqa: ANN001
    programme(env)
    today = datetime.now(timezone.utc).date()
    add_pair(env, ANN, BOB, "--started", f"{today - timedelta(days=40):%Y-%m-%d}")
    env.cli("report", "mentors", "--month", f"{today:%Y-%m}", "--html", str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text()
    assert "Quiet mentoring pairs" in page and "Ann Wanjiru (mentor) and a member (mentee)" in page
    assert "40 days quiet, no message yet" in page
    assert ANN not in page and BOB not in page  # a report for a board names, it does not give addresses


# ---- bad input ------------------------------------------------------------------------------------

def test_bad_input_is_a_one_line_error(env: Env):
    programme(env)
    env.cli("pair", "add", "mentors", ANN, BOB)
    key = pairs(env)[0]["key"]
    future = f"{datetime.now(timezone.utc).year + 1}-01-01"
    for args, says in [
        (("add", "mentors", ANN, ANN), "cannot be paired with themselves"),
        (("add", "mentors", ANN, "zed@example.com"), "the mentee zed@example.com is not a member of mentors"),
        (("add", "mentors", "zed@example.com", BOB), "the mentor zed@example.com is not a member of mentors"),
        (("add", "mentors", BOB, ANN), f"{BOB} and {ANN} are already a pair in mentors"),
        (("add", "mentors", ANN, "not an address"), "is not a valid mail address"),
        (("add", "mentors", CAT, DEE, "--started", "last week"), "--started: 'last week' is not a date"),
        (("add", "mentors", CAT, DEE, "--started", future), "is in the future"),
        (("add", "mentros", ANN, BOB), "no group named 'mentros' (groups: mentors)"),
        (("list", "mentros"), "no group named 'mentros'"),
        (("end", "mentors", "nosuchpair"), "no pair 'nosuchpair' in mentors"),
        (("end", "mentors", f"mentors@{DOMAIN}"), "is not the address of a pair in mentors"),
    ]:
        result = env.cli("pair", *args, ok=False)
        assert result.exit_code == 1, (args, result.output)
        assert len(result.output.splitlines()) == 1 and result.output.startswith("error: "), result.output
        assert says in result.output, (args, result.output)
    env.cli("pair", "end", "mentors", f"mentors-pair-{key}@{DOMAIN}")  # by its address too
    result = env.cli("pair", "end", "mentors", key, ok=False)
    assert result.exit_code == 1 and "ended on" in result.output
    assert "mentors has no open mentoring pairs" in env.cli("pair", "list", "mentors").output


# ---- the rules, without a server ------------------------------------------------------------------

def test_a_key_makes_an_address_the_router_reads_back():
    for _ in range(50):
        key = new_key()
        assert re.fullmatch(r"[a-z0-9]{10}", key)
        address = address_for("mentors", DOMAIN, PAIR, key)
        assert parse_address(address, DOMAIN) == parse_address(f"<{address}>", DOMAIN)
        assert (parse_address(address, DOMAIN).kind, parse_address(address, DOMAIN).token) == (PAIR, key)
    assert len({new_key() for _ in range(1000)}) == 1000


def test_an_exchange_is_an_answer():
    assert count_exchanges([]) == 0
    assert count_exchanges(["a"]) == 0
    assert count_exchanges(["a", "a", "a"]) == 0  # writing again is no answer
    assert count_exchanges(["a", "b"]) == 1
    assert count_exchanges(["a", "a", "b", "a"]) == 2
    assert count_exchanges(["b", "a", "b", "a"]) == 3


def test_who_can_be_paired():
    ann, bob = Member(group_id=1, email=ANN), Member(group_id=1, email=BOB)
    assert pairing_problem(ann, bob, ANN, BOB, "mentors", []) is None
    assert pairing_problem(ann, bob, ANN, BOB, "mentors", [(CAT, DEE), (ANN, DEE)]) is None  # more than one pair each
    assert "themselves" in pairing_problem(ann, ann, ANN, ANN, "mentors", [])
    assert "the mentee" in pairing_problem(ann, None, ANN, BOB, "mentors", [])
    assert "already a pair" in pairing_problem(ann, bob, ANN, BOB, "mentors", [(BOB, ANN)])


def test_a_pairs_state_at_a_moment():
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    pair = Pair(group_id=1, key="abcdef1234", mentor=ANN, mentee=BOB, started_at=start)
    mail = [(start + timedelta(days=1), ANN), (start + timedelta(days=2), BOB), (start + timedelta(days=3), BOB)]
    at = start + timedelta(days=13)
    state = state_of(pair, mail, at, 10)
    assert (state.to_mentee, state.to_mentor, state.exchanges) == (1, 2, 1)
    assert state.last_contact == start + timedelta(days=3) and state.days_quiet == 10 and state.quiet
    assert not state_of(pair, mail, at, 10.5).quiet  # quiet from 10.5 days: not yet
    # Mail after the moment does not count; with none, days quiet run from the start.
    early = state_of(pair, mail, start + timedelta(days=1), 10)
    assert (early.to_mentee, early.last_contact, early.days_quiet, early.quiet) == (0, None, 1, False)
    pair.ended_at = start + timedelta(days=20)
    ended = state_of(pair, mail, start + timedelta(days=40), 10)
    assert not ended.quiet and ended.days_quiet == 17  # an ended pair is never quiet; its count stopped
    assert state_of(pair, mail, start + timedelta(days=19), 10).quiet
