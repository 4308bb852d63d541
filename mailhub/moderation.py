"""Held posts: tell each moderator and the sender, and carry out a verdict given by mail or CLI.

A moderator's notice can be answered for `limits.hold_days`. The post itself stays held after
that, as in Mailman 3 (whose `max_days_to_hold` is off by default): dropping a member's post
because nobody looked in time loses it without a word. `mailhub held list` shows it, and a
moderator who answers an expired notice gets a fresh one."""
from __future__ import annotations

from typing import Any, Optional

from sqlmodel import Session, col, select

from mailhub import links
from mailhub.commands import Verdict
from mailhub.config import Config
from mailhub.fanout import Rosters
from mailhub.membership import expired, make_token, token_address
from mailhub.models import TRUSTED, Group, Member, Message, Token, utcnow
from mailhub.notices import answer, notify, web_link
from mailhub.parse import parse_message
from mailhub.policy import because, explain
from mailhub.publish import publish

EXCERPT = 4000  # characters of a held post shown to moderators: enough to judge, small on a phone


def moderators(session: Session, group: Group) -> list[Member]:
    return list(session.exec(select(Member).where(Member.group_id == group.id,
                                                  col(Member.role).in_(TRUSTED))).all())


def deciders(session: Session, config: Config, group: Group) -> list[tuple[str, object]]:
    """Who decides the group's held posts, each with what tells their notices apart: its
    moderators and owners, or in a group without any, server.postmaster (when set)."""
    found: list[tuple[str, object]] = [(m.email, m.id) for m in moderators(session, group)]
    if not found and config.server.postmaster:
        found = [(config.server.postmaster, "postmaster")]
    return found


def hold(session: Session, config: Config, group: Group, message: Message, reason: str) -> None:
    """Hold a post: every moderator (or, in a group without one, server.postmaster) gets one
    notice they can answer, the sender hears at most once a day that their post waits."""
    message.state, message.reason = "held", reason
    tokens = session.exec(select(Token).where(Token.message_pk == message.id, Token.purpose == "moderate")).all()
    token = next((t for t in tokens if not expired(t)), None) or _moderate_token(session, config, group, message)
    for to, who in deciders(session, config, group):
        notify(session, config, group, to, f"held:{message.id}:{who}", "held.txt",
               **_notice(session, config, group, message, token))
    if message.from_addr:
        answer(session, config, group, message.from_addr,
               f"awaiting:{group.id}:{message.from_addr}:{utcnow().date()}", "awaiting.txt",
               _declared(message), in_reply_to=message.message_id, subject=message.subject)


def _declared(message: Message) -> Optional[str]:
    """The language the sender's mail declared: what they read if they are not a member."""
    return parse_message(message.raw).language


def _moderate_token(session: Session, config: Config, group: Group, message: Message) -> Token:
    return make_token(session, config, group, "moderate", message.from_addr, message.from_name, message_pk=message.id)


def _notice(session: Session, config: Config, group: Group, message: Message, token: Token,
            renewed: bool = False) -> dict[str, Any]:
    """What held.txt needs."""
    text = message.new_text or message.body_text
    return {"reply_to": token_address(config, group, token), "message": message, "reason": message.reason,
            "why": explain(message.reason),
            "text": text[:EXCERPT], "cut": len(text) > EXCERPT, "renewed": renewed,
            "days": f"{config.limits.hold_days:g}", "link": web_link(session, config, links.MODERATE, token)}


def renew_notice(session: Session, config: Config, group: Group, message: Message, moderator: str,
                 key: str) -> None:
    """A moderator answered a notice after it expired: that answer does nothing (the notice may
    have been forwarded, and From can be forged), and this moderator gets a fresh notice at their
    own address. The old token stays, so other moderators' late answers are recognised too."""
    token = _moderate_token(session, config, group, message)
    answer(session, config, group, moderator, key, "held.txt",
           **_notice(session, config, group, message, token, renewed=True))


def tell_rejected(session: Session, config: Config, group: Group, message: Message, reason: str) -> None:
    """Tell the sender the post policy refused their post, for `reason` (said in their language)."""
    _tell_sender(session, config, group, message, reason, explain(reason))


def _tell_sender(session: Session, config: Config, group: Group, message: Message, reason: str,
                 why: dict[str, str]) -> None:
    if message.from_addr:
        answer(session, config, group, message.from_addr, f"rejected:{message.id}", "rejected.txt",
               _declared(message), in_reply_to=message.message_id, subject=message.subject, reason=reason,
               why=why)


def decide_held(session: Session, config: Config, message: Message, verdict: Verdict, by: str) -> str:
    """Approve, reject or discard a held post. Returns the outcome code (approved, rejected,
    discarded, or not_held when someone decided first)."""
    if message.state != "held":
        return "not_held"
    group = session.get(Group, message.group_id)
    if group is None:
        return "not_held"
    if verdict.action == "approve":
        publish(session, config, group, message, parse_message(message.raw), Rosters().get(session, group.id))
        message.reason = because("approved_by", by=by)
        outcome = "approved"
    elif verdict.action == "reject":
        message.state, message.reason = "rejected", verdict.reason or because("rejected_by", by=by)
        _tell_sender(session, config, group, message, verdict.reason, {})  # a moderator's words, as written
        outcome = "rejected"
    else:
        message.state, message.reason = "discarded", because("discarded_by", by=by)
        outcome = "discarded"
    session.add(message)
    return outcome
