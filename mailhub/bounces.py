"""Bounces: which member a bounce is about (the token of the VERP address it came back to, never
the bounce text), what kind it is (flufl.bounce), and the score that stops delivery to a dead
address. The scoring rules are pure functions of a member's state and the time."""
from __future__ import annotations

import email
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.policy import compat32
from typing import Optional

from flufl.bounce import all_failures
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailhub.config import BouncesConfig, Config
from mailhub.db import writing
from mailhub.digest_jobs import member_zone
from mailhub.logs import event
from mailhub.membership import make_token, owners, remove_member, token_address
from mailhub.models import Group, Member, Message, utcnow
from mailhub.notices import notify
from mailhub.schedule import read_zone

log = logging.getLogger(__name__)

PERMANENT, TEMPORARY = "permanent", "temporary"
DAY = timedelta(days=1)


def classify(raw: bytes) -> Optional[str]:
    """`permanent`, `temporary`, or None when the mail is not a bounce flufl.bounce recognises
    (an auto-reply, spam, a format it does not know)."""
    try:
        temporary, permanent = all_failures(email.message_from_bytes(raw, policy=compat32))
    except Exception:  # noqa: BLE001 - a detector tripping over broken mail: not a bounce we can read
        event(log, "bounce_unreadable", level=logging.ERROR, exc_info=True)
        return None
    if permanent:
        return PERMANENT
    return TEMPORARY if temporary else None


@dataclass(frozen=True)
class BounceState:
    """The bounce columns of one member."""

    score: float = 0.0
    counted_at: Optional[datetime] = None
    temporary_since: Optional[datetime] = None
    disabled_at: Optional[datetime] = None
    warnings: int = 0
    warned_at: Optional[datetime] = None


def register(state: BounceState, kind: str, now: datetime, rules: BouncesConfig) -> BounceState:
    """The state after one bounce. A score unfed for `stale_days` starts again from 0; at most one
    bounce counts per day; temporary bounces count only once they have come for `temporary_days`
    (a full mailbox on holiday is not a dead address). At `threshold`, delivery stops."""
    if state.counted_at is not None and now - state.counted_at > timedelta(days=rules.stale_days):
        state = replace(state, score=0.0, temporary_since=None)
    if kind == TEMPORARY:
        since = state.temporary_since or now
        state = replace(state, temporary_since=since)
        if now - since < timedelta(days=rules.temporary_days):
            return state
    else:
        state = replace(state, temporary_since=None)
    if state.counted_at is not None and now - state.counted_at < DAY:
        return state
    state = replace(state, score=state.score + 1, counted_at=now)
    if state.score >= rules.threshold and state.disabled_at is None:
        state = replace(state, disabled_at=now)
    return state


def next_step(state: BounceState, now: datetime, rules: BouncesConfig) -> Optional[str]:
    """For a member whose delivery is stopped: `warn` (send the next notice), `remove` (the last
    notice went unanswered), or None (wait)."""
    if state.disabled_at is None:
        return None
    if state.warned_at is not None and now - state.warned_at < timedelta(days=rules.warn_every_days):
        return None
    return "remove" if state.warnings >= rules.warnings else "warn"


# ---- acting on a member ------------------------------------------------------------------------

def state_of(member: Member) -> BounceState:
    return BounceState(member.bounce_score, member.bounce_counted_at, member.temporary_since, member.disabled_at,
                       member.warnings, member.warned_at)


def _store(member: Member, state: BounceState) -> None:
    (member.bounce_score, member.bounce_counted_at, member.temporary_since, member.disabled_at, member.warnings,
     member.warned_at) = (state.score, state.counted_at, state.temporary_since, state.disabled_at, state.warnings,
                          state.warned_at)


def record_bounce(session: Session, config: Config, group: Group, member: Member, kind: str,
                  now: Optional[datetime] = None) -> None:
    """Count one bounce (or a 5xx from the relay) for `member`; stop delivery and warn at the
    threshold."""
    now = now or utcnow()
    before = member.disabled_at
    _store(member, register(state_of(member), kind, now, config.bounces))
    session.add(member)
    event(log, "bounce", group=group.name, member=member.email, kind=kind, score=member.bounce_score)
    if before is None and member.disabled_at is not None:
        event(log, "delivery_stopped", level=logging.WARNING, group=group.name, member=member.email,
              score=member.bounce_score)
        follow_up(session, config, group, member, now)


def follow_up(session: Session, config: Config, group: Group, member: Member, now: datetime) -> Optional[str]:
    """Warn a member whose delivery is stopped (the mail may get through: the address may work
    again), or remove them when the last warning went unanswered."""
    step = next_step(state_of(member), now, config.bounces)
    if step == "warn":
        token = make_token(session, config, group, "enable", member.email)
        member.warnings, member.warned_at = member.warnings + 1, now
        notify(session, config, group, member.email, f"bounce-warning:{member.id}:{member.warnings}:{token.token}",
               "bounce_warning.txt", reply_to=token_address(config, group, token), warning=member.warnings,
               warnings=config.bounces.warnings, every=config.bounces.warn_every_days)
        session.add(member)
    elif step == "remove":
        event(log, "member_removed", level=logging.WARNING, group=group.name, member=member.email,
              reason="bounces", warnings=member.warnings)
        for owner in owners(session, group):
            notify(session, config, group, owner.email, f"bounce-removed:{member.id}:{owner.id}",
                   "bounce_removed.txt", email=member.email, warnings=member.warnings)
        remove_member(session, member, "bounces", config)
    return step


def enable(session: Session, member: Member) -> None:
    """Start delivery again, with a clean score."""
    _store(member, BounceState())
    session.add(member)


def on_bounce(session: Session, config: Config, group: Group, message: Message) -> str:
    """Mail to `group-bounces+TOKEN@`: never posted. The token names the member; what the bounce
    text says about addresses is not trusted."""
    member = session.exec(select(Member).where(Member.group_id == group.id,
                                               Member.token == (message.address_token or ""))).first()
    kind = classify(message.raw)
    if kind is None:
        event(log, "bounce_dropped", group=group.name, rcpt=message.rcpt, reason="not a bounce we recognise")
        return "not a bounce: dropped"
    if member is None:
        # A made-up token, another group's, or a member's who left: nobody to score. Never answered:
        # the sender of a bounce is no person, and a forged one would turn an answer into backscatter.
        event(log, "bounce_dropped", group=group.name, rcpt=message.rcpt, kind=kind, reason="names no member")
        return f"{kind} bounce for no current member: dropped"
    record_bounce(session, config, group, member, kind, message.received_at)
    return f"{kind} bounce for {member.email}: score {member.bounce_score:g}"


def bounce_round(engine: Engine, config: Config, now: Optional[datetime] = None) -> None:
    """The periodic look at stopped members: the next warning or the removal, and once a day a
    summary to the owners of members whose delivery stopped in the last day."""
    now = now or utcnow()
    with writing(engine), Session(engine) as session:
        for group in session.exec(select(Group)).all():
            stopped = session.exec(select(Member).where(Member.group_id == group.id,
                                                        col(Member.disabled_at).is_not(None))).all()
            for member in stopped:
                follow_up(session, config, group, member, now)
            recent = [m for m in stopped if m.disabled_at is not None and now - m.disabled_at < DAY]
            if recent:
                members = [{"email": m.email, "score": m.bounce_score, "since": m.disabled_at} for m in recent]
                for owner in owners(session, group):
                    notify(session, config, group, owner.email,
                           f"bounce-summary:{group.id}:{owner.id}:{now:%Y-%m-%d}", "bounce_summary.txt",
                           members=members, zone=read_zone(member_zone(config, group, owner.timezone)))
        session.commit()
