"""Publish an accepted post: thread it, index it for search, queue its copies."""
from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session

from mailhub.config import Config
from mailhub.events import record as events
from mailhub.fanout import Roster, fan_out
from mailhub.models import Group, Member, Message, utcnow
from mailhub.parse import Parsed
from mailhub.search import index_message
from mailhub.thread import attach


def publish(session: Session, config: Config, group: Group, message: Message, mail: Parsed,
            roster: Roster) -> int:
    """Returns how many copies were queued. Idempotent, like every processing step."""
    events.place(session, group, message, mail)  # an event's update or cancel joins the event's topic
    attach(session, group.id, group.prefix, message, mail, message.received_at,
           config.threading.subject_window_days)
    message.state, message.reason = "posted", "posted"
    # Digests cover what was published in their period: a held post counts from its approval.
    message.posted_at = message.posted_at or utcnow()
    session.add(message)
    index_message(session, message)
    author = roster.entry(mail.from_addr)
    if author is not None and author.new_member:
        # A first published post ends new-member moderation.
        session.execute(update(Member).where(Member.id == author.id).values(new_member=False))
    queued = fan_out(session, message, roster, mail.from_addr, group.include_author)
    events.on_published(session, config, group, message, mail)  # an invitation: the copies become invitations
    return queued
