"""Which topic a message joins. The rule is pure (`pick_topic`); `find_topic` gathers its inputs."""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from mailhub.db import insert_ignoring_duplicates

from mailhub.models import Message, MessageRef, Topic, TopicPref
from mailhub.parse import Parsed

# Reply and forward prefixes as mail clients write them around the world: English, German
# (AW, WG), Nordic (SV, VS, VB), Dutch (Antw, Doorst), Spanish/Portuguese (RV, Enc), French (TR),
# Turkish (Ynt), Polish (Odp), Russian (Ответ, Отв), Chinese (回复, 回覆, 答复, 转发), with an
# optional counter (Re[2], Re(3), Re^2) and an ASCII or full-width colon.
_WORDS = ("re", "fwd", "fw", "aw", "wg", "sv", "vs", "vb", "antw", "doorst", "rv", "enc", "tr", "ynt", "odp",
          "ответ", "отв", "回复", "回覆", "答复", "转发")
_PREFIX = re.compile(r"^\s*(?:%s)\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*" % "|".join(_WORDS), re.IGNORECASE)


def strip_prefixes(subject: str, list_prefix: str) -> tuple[str, bool]:
    """Remove every reply/forward prefix and the list's [prefix] wherever it stands; say whether
    a reply prefix was seen. `subject` is already decoded from RFC 2047."""
    text = " ".join(subject.split())
    if list_prefix:
        text = re.sub(re.escape(list_prefix), " ", text, flags=re.IGNORECASE)
        text = " ".join(text.split())
    had_prefix = False
    while m := _PREFIX.match(text):
        had_prefix = True
        text = text[m.end():]
    return text.strip(), had_prefix


def subject_key(subject: str, list_prefix: str) -> str:
    text, _ = strip_prefixes(subject, list_prefix)
    return " ".join(text.lower().split())


def pick_topic(
    address_topic: Optional[int],
    referenced_topics: list[int],
    conversation_topic: Optional[int],
    subject_topic: Optional[int],
    subject_has_reply_prefix: bool,
) -> Optional[int]:
    """First match wins: the topic address, then the nearest known message named in
    In-Reply-To/References, then Outlook's conversation (Thread-Index), then the subject (only
    when it says it is a reply). None means a new topic."""
    if address_topic is not None:
        return address_topic
    if referenced_topics:
        return referenced_topics[-1]
    if conversation_topic is not None:
        return conversation_topic
    if subject_has_reply_prefix and subject_topic is not None:
        return subject_topic
    return None


def new_topic_key() -> str:
    return secrets.token_hex(5)


def live_topic(session: Session, topic_id: Optional[int]) -> Optional[int]:
    """Follow merges to the topic that holds the messages now."""
    for _ in range(100):  # merges form a chain towards the oldest parent; never a cycle
        if topic_id is None:
            return None
        merged_into = session.exec(select(Topic.merged_into).where(Topic.id == topic_id)).first()
        if merged_into is None:
            return topic_id
        topic_id = merged_into
    return topic_id


def _first(session: Session, query) -> Optional[int]:  # noqa: ANN001 - a select of one topic id
    return live_topic(session, session.exec(query).first())


def find_topic(session: Session, group_id: int, list_prefix: str, mail: Parsed, address_token: Optional[str],
               now: datetime, window_days: float) -> Optional[int]:
    address_topic = None
    if address_token:
        address_topic = _first(session, select(Topic.id).where(Topic.key == address_token,
                                                               Topic.group_id == group_id))
    referenced: list[int] = []
    ids = referenced_ids(mail)
    if ids:
        rows = session.exec(
            select(Message.message_id, Message.topic_id).where(
                Message.group_id == group_id,
                Message.channel == "post",
                col(Message.message_id).in_(ids),
                col(Message.topic_id).is_not(None),
            )
        ).all()
        live = {tid: live_topic(session, tid) for tid in {tid for _, tid in rows}}  # once per topic, not per id
        by_id = {mid: live[tid] for mid, tid in rows}
        referenced = [by_id[i] for i in ids if by_id.get(i) is not None]
    conversation_topic = None
    if mail.thread_index and not referenced:
        conversation_topic = _first(session, select(Message.topic_id).where(
            Message.group_id == group_id, Message.thread_index == mail.thread_index,
            col(Message.topic_id).is_not(None)).order_by(Message.id))
    key = subject_key(mail.subject, list_prefix)
    _, has_prefix = strip_prefixes(mail.subject, list_prefix)
    subject_topic = None
    if has_prefix and key:
        subject_topic = session.exec(
            select(Topic.id)
            .where(
                Topic.group_id == group_id,
                Topic.subject_key == key,
                col(Topic.merged_into).is_(None),
                Topic.last_message_at >= now - timedelta(days=window_days),
            )
            .order_by(col(Topic.last_message_at).desc())
        ).first()
    return pick_topic(address_topic, referenced, conversation_topic, subject_topic, has_prefix)


def referenced_ids(mail: Parsed) -> list[str]:
    """Every Message-ID the mail names, oldest first; In-Reply-To last, as it is the parent."""
    return list(dict.fromkeys(mail.references + mail.in_reply_to))


def _orphan_topics(session: Session, group_id: int, message: Message) -> list[int]:
    """Topics of replies that arrived before `message`, the parent they name."""
    rows = session.exec(
        select(Message.topic_id).join(MessageRef, col(MessageRef.message_pk) == Message.id)
        .where(MessageRef.group_id == group_id, MessageRef.ref_id == message.message_id,
               col(Message.topic_id).is_not(None))
        .order_by(Message.id)
    ).all()
    return list(dict.fromkeys(t for t in (live_topic(session, r) for r in rows) if t is not None))


def merge(session: Session, into: Topic, other_id: int) -> None:
    """Move every message of topic `other_id` into `into`; the old topic's address keeps working."""
    other = session.get(Topic, other_id)
    if other is None or other.id == into.id:
        return
    session.execute(update(Message).where(Message.topic_id == other.id).values(topic_id=into.id))
    # Members' mute/follow choices move along; where a member chose for both, the parent's stands.
    chosen_here = select(TopicPref.member_id).where(TopicPref.topic_id == into.id)
    session.execute(delete(TopicPref).where(TopicPref.topic_id == other.id,
                                            col(TopicPref.member_id).in_(chosen_here)))
    session.execute(update(TopicPref).where(TopicPref.topic_id == other.id).values(topic_id=into.id))
    into.message_count += other.message_count
    into.last_message_at = max(into.last_message_at, other.last_message_at)
    into.created_at = min(into.created_at, other.created_at)
    other.message_count, other.merged_into = 0, into.id
    session.add_all([into, other])


def _lock(session: Session, topic_ids: list[int]) -> None:
    """Hold these topics' rows until commit, so that workers in other processes (PostgreSQL)
    adding to the same topic count and merge one after another, not over each other. Always in
    id order, so two of them never wait for each other. SQLite has one writer: a no-op there."""
    if topic_ids:
        session.exec(select(Topic).where(col(Topic.id).in_(topic_ids)).order_by(col(Topic.id))
                     .with_for_update().execution_options(populate_existing=True)).all()


def attach(session: Session, group_id: int, list_prefix: str, message: Message, mail: Parsed,
           now: datetime, window_days: float) -> Topic:
    """Put `message` into its topic (creating one if needed), and pull in the topics of replies
    that arrived before it. Idempotent: a threaded message stays where it is."""
    if message.topic_id is not None:
        topic = session.get(Topic, live_topic(session, message.topic_id))
        assert topic is not None
        return topic
    chosen = find_topic(session, group_id, list_prefix, mail, message.address_token, now, window_days)
    orphans = _orphan_topics(session, group_id, message)
    adopted = chosen is None and bool(orphans)
    if adopted:
        chosen = orphans[0]  # the parent joins its first early reply's topic
    _lock(session, [t for t in (chosen, *orphans) if t is not None])
    live = live_topic(session, chosen)
    if live != chosen:  # merged into another topic by another worker meanwhile
        chosen = live
        _lock(session, [live])
    topic = session.get(Topic, chosen) if chosen is not None else None
    if topic is None:
        subject, _ = strip_prefixes(mail.subject, list_prefix)
        topic = Topic(group_id=group_id, key=new_topic_key(), subject=subject or "(no subject)",
                      subject_key=subject_key(mail.subject, list_prefix), created_at=now, last_message_at=now)
        session.add(topic)
        session.flush()
    for orphan in orphans:
        merge(session, topic, orphan)
    if adopted:
        # The topic was named after a reply; the parent that started it has the real subject.
        subject, _ = strip_prefixes(mail.subject, list_prefix)
        topic.subject, topic.subject_key = subject or topic.subject, subject_key(mail.subject, list_prefix)
    topic.message_count += 1
    # Live mail comes in time order; an archive may not, and its topics span its own dates.
    topic.created_at, topic.last_message_at = min(topic.created_at, now), max(topic.last_message_at, now)
    message.topic_id = topic.id
    insert_ignoring_duplicates(session, MessageRef, [
        {"group_id": group_id, "message_pk": message.id, "ref_id": ref} for ref in referenced_ids(mail)
    ], ["message_pk", "ref_id"])
    session.add(topic)
    session.add(message)
    return topic
