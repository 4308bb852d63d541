"""Mentoring pairs: a mentor and a mentee of one group with their own channel `group-pair-KEY@`
(router.PAIR). Mail to it reaches the other one of the two through the group, neither sees the
other's address, the rest of the group sees nothing (private.py passes it on and logs each mail
in RelayLog, kind "pair"). Here: the rules for making and ending pairs, the mails that go with
them, and what staff see of each pair, counted from RelayLog.

Figures of one pair, as known at a moment `at` (only its mail before `at` counts):
- `to_mentee`, `to_mentor`: its messages each way.
- `last_contact`: when its last message was passed on (None: none yet).
- `days_quiet`: whole days since the last contact, else since the pair started (for an ended
  pair: until it ended).
- `exchanges`: messages whose writer is not the writer of the pair's message before (an answer);
  so a pair that wrote mentor, mentor, mentee, mentor has 2. The first message is none.
- `quiet`: the pair is open at `at` and has been quiet for `pairs.quiet_days` (config.toml) or more.
"""
from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional, Sequence

from sqlmodel import Session, col, select

from mailhub.config import Config
from mailhub.models import Group, Member, Pair, RelayLog, utcnow
from mailhub.names import without_addresses
from mailhub.notices import notify
from mailhub.router import PAIR, address_for

KEY_ALPHABET = string.ascii_lowercase + string.digits  # router._PAIR takes [a-z0-9]{6,32}
KEY_LENGTH = 10
DAY = 86400.0


class PairError(ValueError):
    """A pair that cannot be made or ended; the text says why, for the person at the terminal."""


def new_key() -> str:
    """Random, 10 lowercase letters and digits (about 52 bits): a stranger cannot guess a pair's
    address, and the RCPT check lets only the pair's two members write to it anyway."""
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def aware(moment: datetime) -> datetime:
    """SQLite gives stored times back without their zone: they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def pair_address(config: Config, group: Group, pair: Pair) -> str:
    return address_for(group.name, config.server.domain, PAIR, pair.key)


# ---- the rules, without a database -------------------------------------------------------------

def pairing_problem(mentor: Optional[Member], mentee: Optional[Member], mentor_email: str, mentee_email: str,
                    group: str, open_pairs: Sequence[tuple[str, str]]) -> Optional[str]:
    """Why these two cannot be paired (the members as found in the group, None for none), or None.
    `open_pairs`: (mentor, mentee) of the group's open pairs."""
    if mentor_email == mentee_email:
        return f"a mentor and a mentee are two people: {mentor_email} cannot be paired with themselves"
    for who, member, email in (("mentor", mentor, mentor_email), ("mentee", mentee, mentee_email)):
        if member is None:
            return f"the {who} {email} is not a member of {group} (add them first: mailhub member add {group} {email})"
    if {mentor_email, mentee_email} in ({a, b} for a, b in open_pairs):
        return f"{mentor_email} and {mentee_email} are already a pair in {group}"
    return None


def count_exchanges(writers: Sequence[str]) -> int:
    """Messages written by someone other than the writer of the message before: answers."""
    return sum(1 for before, this in zip(writers, writers[1:]) if this != before)


def is_open(pair: Pair, at: datetime) -> bool:
    """Started before `at` and not ended by then."""
    return aware(pair.started_at) < at and (pair.ended_at is None or aware(pair.ended_at) > at)


@dataclass(frozen=True)
class PairState:
    """One pair as known at `at` (see the module's docstring)."""

    pair: Pair
    to_mentee: int
    to_mentor: int
    last_contact: Optional[datetime]
    days_quiet: int
    exchanges: int
    quiet: bool
    open: bool


def state_of(pair: Pair, mail: Sequence[tuple[datetime, str]], at: datetime, quiet_days: float) -> PairState:
    """`pair` at `at` from its mail, (when, writer's address) oldest first; mail at or after `at`
    does not count."""
    mail = [(aware(when), writer) for when, writer in mail if aware(when) < at]
    writers = [writer for _, writer in mail]
    last = mail[-1][0] if mail else None
    since = last or aware(pair.started_at)
    # An ended pair was quiet until it ended, not until now.
    until = min(at, aware(pair.ended_at)) if pair.ended_at is not None else at
    quiet_for = max(0.0, (until - since).total_seconds())
    open_now = is_open(pair, at)
    return PairState(pair=pair, to_mentee=sum(1 for w in writers if w == pair.mentor),
                     to_mentor=sum(1 for w in writers if w == pair.mentee), last_contact=last,
                     days_quiet=int(quiet_for // DAY), exchanges=count_exchanges(writers),
                     quiet=open_now and quiet_for >= quiet_days * DAY, open=open_now)


# ---- the database --------------------------------------------------------------------------------

def member_of(session: Session, group: Group, email: str) -> Optional[Member]:
    return session.exec(select(Member).where(Member.group_id == group.id, Member.email == email)).first()


def open_pairs(session: Session, group_id: int) -> list[Pair]:
    return list(session.exec(select(Pair).where(Pair.group_id == group_id, col(Pair.ended_at).is_(None))
                             .order_by(col(Pair.started_at), col(Pair.id))).all())


def find_pair(session: Session, group: Group, key: str) -> Optional[Pair]:
    return session.exec(select(Pair).where(Pair.group_id == group.id, Pair.key == key)).first()


def shown_name(member: Optional[Member]) -> str:
    """The name a member may see of another ("" for none: the template says "a member")."""
    return without_addresses(member.name) if member is not None else ""


def add_pair(session: Session, config: Config, group: Group, mentor_email: str, mentee_email: str,
             started: Optional[datetime] = None) -> Pair:
    """Pair two current members of `group` and queue each a welcome that introduces the other.
    `started`: when the pair began, for a programme moving its pairs in (not in the future)."""
    now = utcnow()
    if started is not None and started > now:
        raise PairError(f"--started {started:%Y-%m-%d} is in the future")
    mentor, mentee = member_of(session, group, mentor_email), member_of(session, group, mentee_email)
    problem = pairing_problem(mentor, mentee, mentor_email, mentee_email, group.name,
                              [(p.mentor, p.mentee) for p in open_pairs(session, group.id)])
    if problem:
        raise PairError(problem)
    assert mentor is not None and mentee is not None
    keys = set(session.exec(select(Pair.key)).all())
    key = new_key()
    while key in keys:  # 36**10 keys: a second draw is all but never needed
        key = new_key()
    pair = Pair(group_id=group.id, key=key, mentor=mentor.email, mentee=mentee.email, started_at=started or now)
    session.add(pair)
    session.flush()
    address = pair_address(config, group, pair)
    for reader, other, is_mentor in ((mentor, mentee, True), (mentee, mentor, False)):
        notify(session, config, group, reader.email, f"pair:{pair.key}:welcome:{reader.email}", "pair_welcome.txt",
               reply_to=address, name=shown_name(reader), other=shown_name(other), mentor=is_mentor,
               pair_address=address, private_copy=group.private_copy or "")
    return pair


def end_pair(session: Session, config: Optional[Config], group: Group, pair: Pair,
             tell: Sequence[str] = ()) -> None:
    """End `pair` now: its address takes no more mail. Those of the two in `tell` who are still
    members get a short notice (needs `config`)."""
    if pair.ended_at is not None:
        raise PairError(f"the pair {pair.key} in {group.name} ended on {aware(pair.ended_at):%Y-%m-%d}")
    pair.ended_at = utcnow()
    session.add(pair)
    if config is None:
        return
    address = pair_address(config, group, pair)
    for reader, other in ((pair.mentor, pair.mentee), (pair.mentee, pair.mentor)):
        member = member_of(session, group, reader) if reader in tell else None
        if member is not None:
            notify(session, config, group, reader, f"pair:{pair.key}:ended:{reader}", "pair_ended.txt",
                   other=shown_name(member_of(session, group, other)), pair_address=address)


def end_pairs_of(session: Session, config: Optional[Config], member: Member) -> list[Pair]:
    """A member leaves or is removed: their open pairs end, and the other of each pair is told
    (when `config` is given)."""
    group = session.get(Group, member.group_id)
    ended = [p for p in open_pairs(session, member.group_id) if member.email in (p.mentor, p.mentee)]
    for pair in ended:
        assert group is not None
        other = pair.mentee if pair.mentor == member.email else pair.mentor
        end_pair(session, config, group, pair, tell=[other])
    return ended


def pair_mail(session: Session, group_id: int, until: datetime,
              pair_ids: Optional[Sequence[int]] = None) -> dict[int, list[tuple[datetime, str]]]:
    """Each pair's mail before `until`, (when, writer) oldest first, by pair id."""
    query = select(RelayLog.pair_id, RelayLog.at, RelayLog.sender).where(
        RelayLog.group_id == group_id, RelayLog.kind == PAIR, col(RelayLog.pair_id).is_not(None),
        RelayLog.at < until)
    if pair_ids is not None:
        query = query.where(col(RelayLog.pair_id).in_(list(pair_ids)))
    found: dict[int, list[tuple[datetime, str]]] = {}
    for pair_id, at, sender in session.exec(query.order_by(col(RelayLog.at), col(RelayLog.id))).all():
        found.setdefault(pair_id, []).append((aware(at), sender))
    return found


def pair_states(session: Session, config: Config, group: Group, at: Optional[datetime] = None,
                ended: bool = False) -> list[PairState]:
    """The group's pairs as known at `at` (default: now), oldest first: those open then, and
    with `ended` those that had ended by then too. Pairs started after `at` are left out."""
    at = at or utcnow()
    pairs = [p for p in session.exec(select(Pair).where(Pair.group_id == group.id)
                                     .order_by(col(Pair.started_at), col(Pair.id))).all()
             if aware(p.started_at) < at and (ended or is_open(p, at))]
    mail = pair_mail(session, group.id, at, [p.id for p in pairs if p.id is not None])
    return [state_of(p, mail.get(p.id, []), at, config.pairs.quiet_days) for p in pairs]  # type: ignore[arg-type]
