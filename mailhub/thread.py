"""Which topic a message joins. The rule is pure (`pick_topic`); `find_topic` gathers its inputs."""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Optional

from sqlmodel import Session, col, select

from mailhub.models import Message, Topic
from mailhub.parse import Parsed

_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)", re.IGNORECASE)
_LIST_TAG = re.compile(r"\[[^\]]*\]\s*")


def strip_prefixes(subject: str, list_prefix: str) -> tuple[str, bool]:
    """Remove reply/forward prefixes and the list's [prefix]; say whether a reply prefix was seen."""
    had_prefix = False
    text = subject.strip()
    while True:
        before = text
        if list_prefix and text.lower().startswith(list_prefix.lower()):
            text = text[len(list_prefix):].lstrip()
        m = _PREFIX.match(text)
        if m:
            had_prefix = True
            text = text[m.end():].lstrip()
        if text == before:
            return text, had_prefix


def subject_key(subject: str, list_prefix: str) -> str:
    text, _ = strip_prefixes(subject, list_prefix)
    return " ".join(text.lower().split())


def pick_topic(
    address_topic: Optional[int],
    referenced_topics: list[int],
    subject_topic: Optional[int],
    subject_has_reply_prefix: bool,
) -> Optional[int]:
    """First match wins: the topic address, then the last known referenced message, then the
    subject (only when it says it is a reply). None means a new topic."""
    if address_topic is not None:
        return address_topic
    if referenced_topics:
        return referenced_topics[-1]
    if subject_has_reply_prefix and subject_topic is not None:
        return subject_topic
    return None


def new_topic_key() -> str:
    return secrets.token_hex(5)


def find_topic(
    session: Session,
    group_id: int,
    list_prefix: str,
    mail: Parsed,
    address_token: Optional[str],
    now: datetime,
    window_days: float,
) -> Optional[Topic]:
    address_topic = None
    if address_token:
        address_topic = session.exec(
            select(Topic.id).where(Topic.key == address_token, Topic.group_id == group_id)
        ).first()
    referenced: list[int] = []
    ids = list(dict.fromkeys(mail.references + mail.in_reply_to))  # In-Reply-To last: it is the parent
    if ids:
        rows = session.exec(
            select(Message.message_id, Message.topic_id).where(
                Message.group_id == group_id,
                Message.channel == "post",
                col(Message.message_id).in_(ids),
                col(Message.topic_id).is_not(None),
            )
        ).all()
        by_id = {mid: tid for mid, tid in rows}
        referenced = [by_id[i] for i in ids if i in by_id]
    key = subject_key(mail.subject, list_prefix)
    _, has_prefix = strip_prefixes(mail.subject, list_prefix)
    subject_topic = None
    if has_prefix and key:
        subject_topic = session.exec(
            select(Topic.id)
            .where(
                Topic.group_id == group_id,
                Topic.subject_key == key,
                Topic.last_message_at >= now - timedelta(days=window_days),
            )
            .order_by(col(Topic.last_message_at).desc())
        ).first()
    chosen = pick_topic(address_topic, referenced, subject_topic, has_prefix)
    return session.get(Topic, chosen) if chosen is not None else None


def attach(session: Session, group_id: int, list_prefix: str, message: Message, mail: Parsed,
           now: datetime, window_days: float) -> Topic:
    """Put `message` into its topic (creating one if needed). Idempotent: a threaded message stays."""
    if message.topic_id is not None:
        topic = session.get(Topic, message.topic_id)
        assert topic is not None
        return topic
    topic = find_topic(session, group_id, list_prefix, mail, message.address_token, now, window_days)
    if topic is None:
        subject, _ = strip_prefixes(mail.subject, list_prefix)
        topic = Topic(group_id=group_id, key=new_topic_key(), subject=subject or "(no subject)",
                      subject_key=subject_key(mail.subject, list_prefix), created_at=now)
        session.add(topic)
        session.flush()
    topic.message_count += 1
    topic.last_message_at = now
    message.topic_id = topic.id
    session.add(topic)
    session.add(message)
    return topic
