"""Bounces: real bounce messages to members' VERP addresses, the score that stops delivery, the
warnings and the removal, with the clock moved forward by telling the bounce round what "now" is."""
from __future__ import annotations

import json
import re
import smtplib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import Session, select

from conftest import DOMAIN, mail, text_of, wait_for
from mailhub.bounces import PERMANENT, TEMPORARY, BounceState, bounce_round, classify, next_step, register
from mailhub.config import BouncesConfig
from mailhub.db import make_engine
from mailhub.models import Member, Message, Topic

DATA = Path(__file__).parent / "data" / "bounces"
POST = f"mentors@{DOMAIN}"
RULES = BouncesConfig()
T0 = datetime(2026, 11, 23, 9, tzinfo=timezone.utc)


def wire(name: str) -> bytes:
    """A corpus file as an MTA sends it: the files have bare LF line ends, SMTP has CRLF (and
    smtplib sends bytes unchanged)."""
    return re.sub(rb"\r?\n", b"\r\n", (DATA / name).read_bytes())


def days(n: float) -> datetime:
    return T0 + timedelta(days=n)


# ---- the rules, pure ---------------------------------------------------------------------------

def test_one_permanent_bounce_counts_per_day_and_five_stop_delivery():
    state = BounceState()
    for n in range(4):
        state = register(state, PERMANENT, days(n), RULES)
        state = register(state, PERMANENT, days(n) + timedelta(hours=2), RULES)  # same day: not counted
    assert state.score == 4 and state.disabled_at is None
    state = register(state, PERMANENT, days(4), RULES)
    assert state.score == 5 and state.disabled_at == days(4)


def test_temporary_bounces_count_only_once_they_persist_for_days():
    state = register(BounceState(), TEMPORARY, days(0), RULES)
    state = register(state, TEMPORARY, days(1), RULES)
    assert state.score == 0 and state.temporary_since == days(0)
    state = register(state, TEMPORARY, days(3), RULES)
    assert state.score == 1


def test_a_score_left_alone_for_a_week_starts_again():
    state = BounceState()
    for n in range(3):
        state = register(state, PERMANENT, days(n), RULES)
    state = register(state, PERMANENT, days(2 + 8), RULES)
    assert state.score == 1


def test_a_stopped_member_is_warned_then_removed():
    state = replace(BounceState(), score=5, disabled_at=days(0))
    assert next_step(state, days(0), RULES) == "warn"
    state = replace(state, warnings=1, warned_at=days(0))
    assert next_step(state, days(6), RULES) is None
    assert next_step(state, days(7), RULES) == "warn"
    state = replace(state, warnings=3, warned_at=days(14))
    assert next_step(state, days(21), RULES) == "remove"
    assert next_step(BounceState(score=3), days(30), RULES) is None


def test_auto_replies_and_ordinary_mail_are_not_bounces():
    assert classify(mail(subject="Out of office", body="I am away until Monday.")) is None
    assert classify(b"not a mail at all \x00\xff") is None


# ---- over SMTP ---------------------------------------------------------------------------------

def tokens(env) -> dict[str, str]:
    with Session(make_engine(env.config.database.url)) as s:
        return dict(s.exec(select(Member.email, Member.token)).all())


def member(env, address: str) -> Member:
    with Session(make_engine(env.config.database.url)) as s:
        return s.exec(select(Member).where(Member.email == address)).one()


def bounce_to(env, token: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", env.port, timeout=10) as smtp:
        smtp.sendmail("", [f"mentors-bounces+{token}@{DOMAIN}"], data)


def processed(env) -> None:
    def done() -> bool:
        with Session(make_engine(env.config.database.url)) as s:
            return not s.exec(select(Message).where(Message.state == "new")).first()
    wait_for(done, what="every message processed")


def test_every_bounce_of_the_corpus_is_read_for_the_member_its_address_names(env, sink):
    expected = {row["file"]: row for row in json.loads((DATA / "expected.json").read_text())}
    files = sorted(p.name for p in DATA.glob("*.txt"))
    assert len(files) == 117
    env.group("mentors", "watcher@example.com")
    for i in range(len(files)):
        env.cli("member", "add", "mentors", f"m{i}@example.net")
    env.start()
    found = tokens(env)
    with smtplib.SMTP("127.0.0.1", env.port, timeout=10) as smtp:  # one session, as an MTA would
        for i, name in enumerate(files):
            smtp.sendmail("", [f"mentors-bounces+{found[f'm{i}@example.net']}@{DOMAIN}"], wire(name))
    processed(env)
    recognised, unread = 0, []
    with Session(make_engine(env.config.database.url)) as s:
        members = {m.email: m for m in s.exec(select(Member)).all()}
        assert not s.exec(select(Topic)).first()  # none was posted
    for i, name in enumerate(files):
        m = members[f"m{i}@example.net"]
        if m.bounce_score == 0 and m.temporary_since is None:
            unread.append(name)
            continue
        recognised += 1
        row = expected.get(name)
        if row and row["addresses"] and row["temporary"] is not None:
            # flufl.bounce's own verdict for the file: temporary ones wait, permanent ones count.
            assert (m.temporary_since is not None and m.bounce_score == 0) == row["temporary"], name
            assert (m.bounce_score == 1) == (not row["temporary"]), name
    assert recognised == 112
    assert unread == ["bounce_01.txt", "dumbass_01.txt", "groupwise_03.txt", "qmail_08.txt", "simple_43.txt"]
    env.drained()
    assert sink.to("watcher@example.com") == []


def test_score_stops_delivery_a_reply_starts_it_again(env, sink):
    env.group("mentors", "ann@example.com", "bob@example.com")
    env.start()
    token = tokens(env)["bob@example.com"]
    engine = make_engine(env.config.database.url)
    for n in range(1, 6):  # five different bounces (one mail, sent twice, is stored once)
        bounce_to(env, token, wire(f"postfix_0{n}.txt"))
        processed(env)
        with Session(engine) as s:  # as if the next bounce came a day later
            bob = s.exec(select(Member).where(Member.email == "bob@example.com")).one()
            bob.bounce_counted_at -= timedelta(days=1)
            s.add(bob)
            s.commit()
    warning = sink.wait("bob@example.com")[0]
    assert "bounces" in str(warning["Subject"]) and "notice 1 of 3" in text_of(warning)
    status = json.loads(env.cli("bounces", "mentors", "--json").output)
    assert [(r["email"], r["score"], r["state"]) for r in status] == [("bob@example.com", 5.0,
                                                                        "stopped (1 warning sent)")]
    env.send(mail(subject="Still here?", body="Hello"), [POST])
    sink.wait("bob@example.com", 1)
    env.drained()
    assert not any("Still here?" in str(r.message["Subject"]) for r in sink.to("bob@example.com"))
    env.reply(warning, "", "bob@example.com")  # an empty reply to the warning
    answer = sink.wait("bob@example.com", 2)[1]
    assert "comes to you again" in text_of(answer)
    env.send(mail(subject="Back again", body="Hello"), [POST])
    wait_for(lambda: any("Back again" in str(r.message["Subject"]) for r in sink.to("bob@example.com")),
             what="a copy to bob once more")
    assert member(env, "bob@example.com").bounce_score == 0


def test_unanswered_warnings_end_in_removal_and_owners_hear_of_it(env, sink):
    env.group("mentors", "ann@example.com", "bob@example.com")
    env.cli("member", "add", "mentors", "owner@example.com", "--role", "owner")
    env.start()
    engine = make_engine(env.config.database.url)
    with Session(engine) as s:
        bob = s.exec(select(Member).where(Member.email == "bob@example.com")).one()
        bob.bounce_score, bob.bounce_counted_at = 4, datetime.now(timezone.utc) - timedelta(days=1)
        s.add(bob)
        s.commit()
    bounce_to(env, tokens(env)["bob@example.com"], wire("postfix_01.txt"))
    sink.wait("bob@example.com")  # warning 1
    now = datetime.now(timezone.utc)
    bounce_round(engine, env.config, now)  # the owners' daily summary
    summary = sink.wait("owner@example.com")[0]
    assert "delivery stopped" in str(summary["Subject"]) and "bob@example.com" in text_of(summary)
    bounce_round(engine, env.config, now + timedelta(days=7))
    bounce_round(engine, env.config, now + timedelta(days=14))
    sink.wait("bob@example.com", 3)
    assert member(env, "bob@example.com").warnings == 3
    bounce_round(engine, env.config, now + timedelta(days=21))
    removed = sink.wait("owner@example.com", 2)[1]
    assert "removed" in str(removed["Subject"])
    members = [m["email"] for m in json.loads(env.cli("member", "list", "mentors", "--json").output)]
    assert "bob@example.com" not in members


def test_a_5xx_from_the_relay_counts_as_a_bounce(env, sink):
    env.group("mentors", "ann@example.com", "gone@example.com")
    sink.handler.refuse["gone@example.com"] = "550 5.1.1 <gone@example.com>: user unknown"
    env.start()
    env.send(mail(subject="Hello all"), [POST])
    wait_for(lambda: member(env, "gone@example.com").bounce_score == 1, what="the refusal counted")
    assert [r["email"] for r in json.loads(env.cli("bounces", "mentors", "--json").output)] == ["gone@example.com"]


def test_mail_to_the_bounce_address_that_is_not_a_bounce_is_dropped(env, sink):
    env.group("mentors", "ann@example.com", "bob@example.com")
    env.start()
    bounce_to(env, tokens(env)["bob@example.com"], mail(subject="Auto: out of office", body="Back Monday."))
    processed(env)
    with Session(make_engine(env.config.database.url)) as s:
        stored = s.exec(select(Message)).one()
    assert stored.state == "done" and "not a bounce" in stored.reason
    assert member(env, "bob@example.com").bounce_score == 0
    env.drained()
    assert sink.received == []


def test_enable_from_the_cli_resets_the_score(env, sink):
    env.group("mentors", "bob@example.com")
    with Session(make_engine(env.config.database.url)) as s:
        bob = s.exec(select(Member)).one()
        bob.bounce_score, bob.disabled_at = 5, datetime.now(timezone.utc)
        s.add(bob)
        s.commit()
    assert "stopped" in env.cli("bounces", "mentors").output
    out = env.cli("member", "set", "mentors", "bob@example.com", "--enable").output
    assert "stopped" not in out
    assert "no member of mentors bounces" in env.cli("bounces", "mentors").output


@pytest.mark.parametrize("name", ["dsn_01.txt", "postfix_01.txt", "qmail_01.txt", "exim_01.txt"])
def test_common_formats_are_permanent(name):
    assert classify((DATA / name).read_bytes()) == PERMANENT
