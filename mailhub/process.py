"""Work a stored message: route by address kind, decide, thread, fan out. Re-running is harmless."""
from __future__ import annotations

import logging
from typing import Optional

from sqlalchemy.engine import Engine
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from mailhub.config import Config
from mailhub.db import writing
from mailhub.fanout import Roster, Rosters, enqueue, fan_out, queue_notice
from mailhub.leases import claim
from mailhub.models import Group, Member, Message
from mailhub.notices import render_notice
from mailhub.parse import Parsed, parse_message
from mailhub.policy import ACCEPT, DISCARD, HOLD, PostContext, auto_generated, decide
from mailhub.quotes import new_text
from mailhub.router import list_id
from mailhub.thread import attach

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


def _fill_derived(message: Message, mail: Parsed) -> None:
    message.from_addr = mail.from_addr
    message.from_name = mail.from_name
    message.subject = mail.subject
    message.body_text = mail.body_text
    message.new_text = new_text(mail.body_text)
    message.thread_index = mail.thread_index
    message.attachments = [{"filename": name, "content_type": kind, "size": size}
                           for name, kind, size in mail.attachments]
    message.sent_at = mail.date


def publish(session: Session, config: Config, group: Group, message: Message, mail: Parsed,
            roster: Roster) -> int:
    """Thread an accepted post and queue its copies. Returns how many copies were queued."""
    attach(session, group.id, group.prefix, message, mail, message.received_at,
           config.threading.subject_window_days)
    message.state, message.reason = "posted", "posted"
    session.add(message)
    return fan_out(session, message, roster, mail.from_addr, group.include_author)


def _post(session: Session, config: Config, group: Group, message: Message, mail: Parsed,
          roster: Roster) -> None:
    role = roster.role_of(mail.from_addr)
    decision = decide(PostContext(group_name=group.name, list_id=list_id(group.name, config.server.domain),
                                  policy=group.policy, member_role=role,
                                  envelope_from=message.envelope_from, mail=mail))
    log.info("message %s to %s: %s (%s)", message.id, group.name, decision.action, decision.reason)
    if decision.action == ACCEPT:
        publish(session, config, group, message, mail, roster)
        return
    message.state = {HOLD: "held", DISCARD: "discarded"}.get(decision.action, "rejected")
    message.reason = decision.reason
    if message.state == "rejected":
        _tell_rejected(session, config, group, message, decision.reason)


def _tell_rejected(session: Session, config: Config, group: Group, message: Message, reason: str) -> None:
    if not message.from_addr:
        return  # nobody to tell
    payload = render_notice(config.templates, "rejected.txt", group=group.name, domain=config.server.domain,
                            to=message.from_addr, in_reply_to=message.message_id,
                            subject=message.subject, reason=reason)
    queue_notice(session, group.id, f"rejected:{message.id}", message.from_addr, payload)


def _owner(session: Session, group: Group, message: Message) -> None:
    owners = session.exec(select(Member).where(Member.group_id == group.id, Member.role == "owner")).all()
    enqueue(session, ({"key": f"forward:{message.id}:{o.id}", "kind": "forward", "message_pk": message.id,
             "member_id": o.id, "group_id": group.id, "recipient": o.email} for o in owners))
    message.state = "done"
    message.reason = f"forwarded to {len(owners)} owner(s)" if owners else "no owners to forward to"


def _command(session: Session, config: Config, group: Group, message: Message, mail: Parsed) -> None:
    """Commands by mail come with the membership work; until then the sender is told whom to ask."""
    ctx = PostContext(group.name, list_id(group.name, config.server.domain), group.policy, None,
                      message.envelope_from, mail)
    if auto_generated(ctx) or not mail.from_addr:
        message.state, message.reason = "discarded", "auto-generated mail to a command address"
        return
    payload = render_notice(config.templates, "no_commands.txt", group=group.name, domain=config.server.domain,
                            to=mail.from_addr, in_reply_to=message.message_id, address=message.rcpt)
    queue_notice(session, group.id, f"no-commands:{message.id}", mail.from_addr, payload)
    message.state, message.reason = "done", "commands by mail are not available yet; sender told"


def process_one(session: Session, config: Config, message: Message, rosters: Rosters,
                mail: Optional[Parsed] = None) -> None:
    group = session.get(Group, message.group_id)
    if group is None:
        message.state, message.reason = "discarded", "group was deleted"
        return
    mail = mail or parse_message(message.raw)
    _fill_derived(message, mail)
    if message.channel == "post":
        _post(session, config, group, message, mail, rosters.get(session, group.id))
    elif message.channel == "owner":
        _owner(session, group, message)
    elif message.channel == "bounces":
        message.state, message.reason = "done", "bounce recorded"
    else:
        _command(session, config, group, message, mail)
    session.add(message)


def _parse_or_none(raw: bytes) -> Optional[Parsed]:
    try:
        return parse_message(raw)
    except Exception:  # noqa: BLE001 - parsed again inside _process_id, which records the error
        return None


def process_pending(engine: Engine, config: Config, limit: int = 50) -> int:
    """Claim and work up to `limit` new messages. Returns how many were claimed.

    Each message gets its own short write transaction, taken after parsing: SQLite has one
    writer, and the listener's commits (so its 250 replies) must not wait behind the worker.
    It also means one poison message cannot hold up the others."""
    with Session(engine) as session:
        ids = claim(session, Message, Message.state == "new", limit, config.delivery.lease_seconds)
        raws = session.exec(select(Message.id, Message.raw).where(col(Message.id).in_(ids))).all() if ids else []
    parsed = {message_id: _parse_or_none(raw) for message_id, raw in raws}
    rosters = Rosters()
    for message_id in ids:
        _process_id(engine, config, message_id, parsed.get(message_id), rosters)
    return len(ids)


def process_message(engine: Engine, config: Config, message_id: int) -> None:
    """Work one message now (the CLI's `post`), leasing it so a running service does not too."""
    with Session(engine) as session:
        ids = claim(session, Message, (Message.id == message_id) & (Message.state == "new"), 1,
                    config.delivery.lease_seconds)
    if ids:
        _process_id(engine, config, message_id)


def _process_id(engine: Engine, config: Config, message_id: int, mail: Optional[Parsed] = None,
                rosters: Optional[Rosters] = None) -> None:
    with writing(engine), Session(engine) as session:
        message = session.get(Message, message_id, options=[defer(Message.raw)])
        if message is None or message.state != "new":
            return
        try:
            process_one(session, config, message, rosters or Rosters(), mail)
            message.lease_until = None
            session.add(message)
            session.commit()
            return
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the queue
            session.rollback()
            log.exception("processing message %s failed", message_id)
            error = f"{type(exc).__name__}: {exc}"
    with writing(engine), Session(engine) as session:
        message = session.get(Message, message_id, options=[defer(Message.raw)])
        if message is None:
            return
        message.attempts += 1
        message.reason = error[:500]
        if message.attempts >= MAX_ATTEMPTS:
            message.state = "failed"
        session.add(message)
        session.commit()


def set_held_outcome(session: Session, config: Config, message: Message, approve: bool,
                     reason: Optional[str] = None) -> None:
    """Approve (publish) or reject (tell the sender) a held post."""
    group = session.get(Group, message.group_id)
    assert group is not None
    if approve:
        publish(session, config, group, message, parse_message(message.raw), Rosters().get(session, group.id))
    else:
        message.state, message.reason = "rejected", reason or "rejected by a moderator"
        _tell_rejected(session, config, group, message, reason or "")
    session.add(message)
