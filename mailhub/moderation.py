"""Held posts: tell each moderator and the sender, and carry out a verdict given by mail or CLI."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from mailhub.commands import Verdict
from mailhub.config import Config
from mailhub.fanout import Rosters
from mailhub.membership import make_token, token_address
from mailhub.models import TRUSTED, Group, Member, Message, Token, utcnow
from mailhub.notices import answer, notify
from mailhub.parse import parse_message
from mailhub.publish import publish

EXCERPT = 4000  # characters of a held post shown to moderators: enough to judge, small on a phone


def moderators(session: Session, group: Group) -> list[Member]:
    return list(session.exec(select(Member).where(Member.group_id == group.id,
                                                  col(Member.role).in_(TRUSTED))).all())


def hold(session: Session, config: Config, group: Group, message: Message, reason: str) -> None:
    """Hold a post: every moderator gets one notice they can answer, the sender hears at most
    once a day that their post waits."""
    message.state, message.reason = "held", reason
    token = session.exec(select(Token).where(Token.message_pk == message.id, Token.purpose == "moderate")).first()
    if token is None:
        token = make_token(session, config, group, "moderate", message.from_addr, message.from_name,
                           message_pk=message.id, expires=False)
    text = message.new_text or message.body_text
    for moderator in moderators(session, group):
        notify(session, config, group, moderator.email, f"held:{message.id}:{moderator.id}", "held.txt",
               reply_to=token_address(config, group, token), message=message, reason=reason,
               text=text[:EXCERPT], cut=len(text) > EXCERPT)
    if message.from_addr:
        answer(session, config, group, message.from_addr,
               f"awaiting:{group.id}:{message.from_addr}:{utcnow().date()}", "awaiting.txt",
               in_reply_to=message.message_id, subject=message.subject)


def tell_rejected(session: Session, config: Config, group: Group, message: Message, reason: str) -> None:
    if message.from_addr:
        answer(session, config, group, message.from_addr, f"rejected:{message.id}", "rejected.txt",
               in_reply_to=message.message_id, subject=message.subject, reason=reason)


def decide_held(session: Session, config: Config, message: Message, verdict: Verdict, by: str) -> str:
    """Approve, reject or discard a held post. Returns the outcome code (approved, rejected,
    discarded, or not_held when someone decided first)."""
    if message.state != "held":
        return "not_held"
    group = session.get(Group, message.group_id)
    if group is None:
        return "not_held"
    # Other moderators may still answer their notice: for a while they hear who decided first.
    session.execute(update(Token).where(Token.message_pk == message.id, Token.purpose == "moderate")
                    .values(expires_at=utcnow() + timedelta(days=config.limits.confirm_days)))
    if verdict.action == "approve":
        publish(session, config, group, message, parse_message(message.raw), Rosters().get(session, group.id))
        message.reason = f"approved by {by}"
        outcome = "approved"
    elif verdict.action == "reject":
        message.state, message.reason = "rejected", verdict.reason or f"rejected by {by}"
        tell_rejected(session, config, group, message, verdict.reason)
        outcome = "rejected"
    else:
        message.state, message.reason = "discarded", f"discarded by {by}"
        outcome = "discarded"
    session.add(message)
    return outcome
