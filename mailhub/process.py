"""Work a stored message: route by address kind, decide, thread, fan out. Re-running is harmless."""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Callable, Optional

from sqlalchemy.engine import Engine
from sqlalchemy.orm import defer
from sqlmodel import Session, col, func, select

from mailhub.config import Config
from mailhub.db import writing
from mailhub.events.record import has_calendar, on_reply as on_event_reply
from mailhub.commands import reply_word
from mailhub.fanout import Roster, Rosters, enqueue
from mailhub.leases import claim
from mailhub.logs import event
from mailhub.models import Group, Message, utcnow
from mailhub.bounces import on_bounce
from mailhub.membership import owners
from mailhub.moderation import hold, tell_rejected
from mailhub.names import own_name
from mailhub.parse import Parsed, parse_message
from mailhub.policy import ACCEPT, DISCARD, HOLD, SCREENS, PostContext, decide
from mailhub.publish import publish
from mailhub.quotes import new_text
from mailhub.request_mail import Request, on_join_address, on_leave_address, on_reply_word, on_request_address
from mailhub import postmaster
from mailhub.private import on_private
from mailhub.router import PAIR, POSTMASTER, PRIVATE, Address, answers_digest, list_id

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# How long one processing transaction may go on taking more messages.
BATCH_SECONDS = 0.01


def fill_derived(message: Message, mail: Parsed) -> None:
    """The columns read from the raw mail; an archive import fills them the same way."""
    message.from_addr = mail.from_addr
    message.from_name = mail.from_name
    message.subject = mail.subject
    message.body_text = mail.body_text
    message.new_text = new_text(mail.body_text)
    message.thread_index = mail.thread_index
    message.attachments = [{"filename": a.filename, "content_type": a.content_type, "size": a.size, "part": a.part}
                           for a in mail.attachments]
    message.sent_at = mail.date


def _post(session: Session, config: Config, group: Group, message: Message, mail: Parsed,
          roster: Roster) -> None:
    author = roster.entry(mail.from_addr)
    # Stored, not looked up when shown: the copies, digests and `topic show` name the author alike,
    # and a name changed later leaves what was sent as it was. See names.author_name.
    message.from_name = own_name(mail.from_name, mail.from_addr) or (author.name if author else "")
    ctx = PostContext(group_name=group.name, list_id=list_id(group.name, config.server.domain),
                      policy=group.policy, member_role=author.role if author else None,
                      envelope_from=message.envelope_from, mail=mail,
                      member_moderated=bool(author and author.moderated),
                      new_member_checked=bool(author and author.new_member and group.new_member_moderation),
                      recent_posts=_recent_posts(session, group, mail.from_addr) if group.rate_limit else 0,
                      rate_limit=group.rate_limit, answers_digest=answers_digest(mail, config.server.domain))
    if decide(ctx, SCREENS).action == ACCEPT:
        word = reply_word(mail.subject, mail.body_text, group.prefix, new=message.new_text)
        if word:  # "mute", "follow", "unsubscribe" or "solved" alone acts instead of being posted
            message.state = "done"
            message.reason = on_reply_word(Request(session, config, group, message, mail, roster), word)
            return
        if on_event_reply(session, config, group, message, mail):  # yes/no/maybe, or a calendar's REPLY
            return
    elif has_calendar(mail) and on_event_reply(session, config, group, message, mail):
        return  # calendar servers mark the REPLY they send for an attendee as automatic (RFC 3834)
    decision = decide(ctx)
    if decision.action == ACCEPT:
        publish(session, config, group, message, mail, roster)
    elif decision.action == HOLD:
        hold(session, config, group, message, decision.reason)
    elif decision.action == DISCARD:
        message.state, message.reason = "discarded", decision.reason
    else:
        message.state, message.reason = "rejected", decision.reason
        tell_rejected(session, config, group, message, decision.reason)


def _recent_posts(session: Session, group: Group, sender: str) -> int:
    since = utcnow() - timedelta(hours=1)
    return session.exec(select(func.count()).select_from(Message).where(
        Message.group_id == group.id, Message.from_addr == sender, Message.received_at >= since,
        Message.state == "posted")).one()


def _owner(session: Session, config: Config, group: Group, message: Message) -> None:
    found = owners(session, group)
    message.state = "done"
    if not found:  # a group nobody owns: its -owner@ mail is the site's to read
        message.reason = f"the group has no owner: {postmaster.forward(session, config, message)}"
        return
    enqueue(session, ({"key": f"forward:{message.id}:{o.id}", "kind": "forward", "message_pk": message.id,
             "member_id": o.id, "group_id": group.id, "recipient": o.email} for o in found))
    message.reason = f"forwarded to {len(found)} owner(s)"


_BY_ADDRESS = {"join": on_join_address, "leave": on_leave_address, "request": on_request_address}


def _request(session: Session, config: Config, group: Group, message: Message, mail: Parsed,
             roster: Roster) -> None:
    """Mail to -join, -leave and -request. Auto-generated mail is never answered (RFC 3834); only
    the one-step unsubscribe address acts on it, as mail programs send that one by themselves."""
    ctx = PostContext(group.name, list_id(group.name, config.server.domain), group.policy, None,
                      message.envelope_from, mail)
    screened = decide(ctx, SCREENS)
    one_step_leave = message.channel == "leave" and message.address_token
    if screened.action != ACCEPT and not one_step_leave:
        message.state, message.reason = "discarded", screened.reason
        return
    request = Request(session, config, group, message, mail, roster, automatic=screened.action != ACCEPT)
    message.state, message.reason = "done", _BY_ADDRESS[message.channel](request)[:500]


def _private(session: Session, config: Config, group: Group, message: Message, mail: Parsed) -> None:
    """Mail to a relay or pair address; auto-replies and loops are not passed on (an out-of-office
    answer would otherwise go back to the writer)."""
    ctx = PostContext(group.name, list_id(group.name, config.server.domain), group.policy, None,
                      message.envelope_from, mail)
    screened = decide(ctx, SCREENS)
    if screened.action != ACCEPT:
        message.state, message.reason = "discarded", screened.reason
        return
    on_private(session, config, group, message, mail, Address(group.name, message.channel, message.address_token))


def process_one(session: Session, config: Config, message: Message, rosters: Rosters,
                mail: Optional[Parsed] = None) -> Callable[[], None]:
    """Work one message in the caller's transaction; returns what to log once it is committed
    (a line written before the commit would claim an outcome a failed commit then undid)."""
    mail = mail or parse_message(message.raw)
    if message.channel == POSTMASTER:  # the site's mail: no group, no policy, passed on as it came
        fill_derived(message, mail)
        message.state, message.reason = "done", postmaster.forward(session, config, message)
        fields = dict(channel=message.channel, id=message.id, message_id=f"<{message.message_id}>",
                      subject=message.subject, reason=message.reason)
        return lambda: event(log, "handled", **fields)
    group = session.get(Group, message.group_id)
    if group is None:
        message.state, message.reason = "discarded", "group was deleted"
        return lambda: None
    fill_derived(message, mail)
    if message.channel == "post":
        _post(session, config, group, message, mail, rosters.get(session, group.id))
    elif message.channel == "owner":
        _owner(session, config, group, message)
    elif message.channel == "bounces":
        message.state, message.reason = "done", on_bounce(session, config, group, message)[:500]
    elif message.channel in (PRIVATE, PAIR):
        _private(session, config, group, message, mail)
    else:
        _request(session, config, group, message, mail, rosters.get(session, group.id))
    session.add(message)
    # After the step, so a posted message's line names its topic; a command's or bounce's outcome is "handled".
    name = message.state if message.state in ("posted", "held", "rejected", "discarded") else "handled"
    fields = dict(group=group.name, channel=message.channel, id=message.id, message_id=f"<{message.message_id}>",
                  topic=message.topic_id, subject=message.subject, reason=message.reason)
    return lambda: event(log, name, **fields)


def _parse_or_none(raw: bytes) -> Optional[Parsed]:
    try:
        return parse_message(raw)
    except Exception:  # noqa: BLE001 - parsed again inside _process_id, which records the error
        return None


def process_pending(engine: Engine, config: Config, limit: int = 50,
                    give_way: Callable[[], object] = lambda: None) -> int:
    """Claim and work up to `limit` new messages. Returns how many were claimed. `give_way` is
    called before each transaction: the service's waits while the listener is taking mail.

    Each message gets its own short write transaction, taken after parsing: SQLite has one
    writer, and the listener's commits (so its 250 replies) must not wait behind the worker.
    It also means one poison message cannot hold up the others."""
    with Session(engine) as session:
        ids = claim(session, Message, Message.state == "new", limit, config.delivery.lease_seconds)
        raws = session.exec(select(Message.id, Message.raw).where(col(Message.id).in_(ids))).all() if ids else []
    parsed = {message_id: _parse_or_none(raw) for message_id, raw in raws}
    rosters = Rosters()
    left = list(ids)
    while left:
        give_way()
        worked = _process_batch(engine, config, left, parsed, rosters)
        if not worked:  # the batch failed and was undone: the first alone, its failure recorded
            rosters = Rosters()  # it may hold what the undone batch changed
            _process_id(engine, config, left[0], parsed.get(left[0]), rosters)
            worked = 1
        left = left[worked:]
    return len(ids)


def _process_batch(engine: Engine, config: Config, ids: list[int], parsed: dict[int, Optional[Parsed]],
                   rosters: Rosters) -> int:
    """Work messages from the front of `ids` in one transaction, for at most BATCH_SECONDS:
    one commit (one fsync) for many posts, while the listener, whose commits wait for the write
    lock, waits no longer than that. Returns how many were worked; 0 when one failed and all of
    the batch was undone."""
    logs, worked, began = [], 0, time.monotonic()
    with writing(engine), Session(engine) as session:
        try:
            for message_id in ids:
                message = session.get(Message, message_id, options=[defer(Message.raw)])
                worked += 1
                if message is not None and message.state == "new":
                    logs.append(process_one(session, config, message, rosters, parsed.get(message_id)))
                    message.lease_until = None
                    session.add(message)
                if time.monotonic() - began >= BATCH_SECONDS:
                    break
            session.commit()
        except Exception:  # noqa: BLE001 - worked again one by one, so the bad one fails alone
            session.rollback()
            return 0
    for log_outcome in logs:
        log_outcome()
    return worked


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
            log_outcome = process_one(session, config, message, rosters or Rosters(), mail)
            message.lease_until = None
            session.add(message)
            session.commit()
            log_outcome()
            return
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the queue
            session.rollback()
            event(log, "process_failed", level=logging.ERROR, exc_info=True, id=message_id)
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
