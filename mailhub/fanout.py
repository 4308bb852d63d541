"""Turn one accepted message into outbox rows: one per recipient, unique by key, one transaction."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple, Optional

from sqlmodel import Session, col, select

from mailhub.db import insert_ignoring_duplicates
from mailhub.logs import event
from mailhub.models import Group, Member, Message, Outbox, TopicPref, utcnow

log = logging.getLogger(__name__)


def enqueue(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    now = utcnow()
    defaults = {"next_attempt_at": now, "created_at": now, "state": "pending", "attempts": 0,
                "last_error": "", "payload": None, "message_pk": None, "member_id": None}
    # A generator: a fan-out to 10,000 members is never a list of 10,000 rows (see INSERT_CHUNK).
    insert_ignoring_duplicates(session, Outbox, ({**defaults, **row} for row in rows), ["key"])


class Entry(NamedTuple):
    id: int
    email: str
    role: str
    delivery: str
    moderated: bool
    new_member: bool
    stopped: bool  # delivery stopped for bounces: still a member, gets nothing
    name: str = ""  # as the group knows them (`member add --name`, `profile name`)


def gets_copy(delivery: str, topic_mode: Optional[str]) -> bool:
    """`each` members get every topic they have not muted; digest readers only topics they follow."""
    if topic_mode == "mute" or delivery == "none":
        return False
    return delivery == "each" or topic_mode == "follow"


@dataclass(frozen=True)
class Roster:
    """A group's members as plain tuples, read once per processing batch rather than per message."""

    members: tuple[Entry, ...]

    def entry(self, address: str) -> Optional[Entry]:
        return next((m for m in self.members if m.email == address), None)

    def role_of(self, address: str) -> Optional[str]:
        found = self.entry(address)
        return found.role if found else None

    def recipients(self, author: str, include_author: bool,
                   topic_modes: Optional[dict[int, str]] = None) -> list[tuple[int, str]]:
        modes = topic_modes or {}
        return [(m.id, m.email) for m in self.members
                if not m.stopped and gets_copy(m.delivery, modes.get(m.id)) and (include_author or m.email != author)]


class Rosters:
    """Rosters read during one processing batch (a fraction of a second): a member added
    meanwhile counts from the next batch on."""

    def __init__(self) -> None:
        self._by_group: dict[int, Roster] = {}

    def get(self, session: Session, group_id: int) -> Roster:
        if group_id not in self._by_group:
            rows = session.exec(select(Member.id, Member.email, Member.role, Member.delivery, Member.moderated,
                                       Member.new_member, col(Member.disabled_at).is_not(None), Member.name)
                                .where(Member.group_id == group_id)).all()
            self._by_group[group_id] = Roster(tuple(Entry(*r) for r in rows))
        return self._by_group[group_id]


def fan_out(session: Session, message: Message, roster: Roster, author: str, include_author: bool) -> int:
    modes = dict(session.exec(select(TopicPref.member_id, TopicPref.mode)
                              .where(TopicPref.topic_id == message.topic_id)).all()) if message.topic_id else {}
    members = roster.recipients(author, include_author, modes)
    enqueue(session, (
        {"key": f"copy:{message.id}:{mid}", "kind": "copy", "message_pk": message.id,
         "member_id": mid, "group_id": message.group_id, "recipient": email}
        for mid, email in members
    ))
    group = session.get(Group, message.group_id)  # loaded by the caller already: no query
    event(log, "fanned_out", group=group.name if group else message.group_id, id=message.id,
          message_id=f"<{message.message_id}>", topic=message.topic_id, recipients=len(members))
    return len(members)


def queue_notice(session: Session, group_id: int, key: str, recipient: str, payload: bytes) -> None:
    enqueue(session, [{"key": key, "kind": "notice", "group_id": group_id,
                       "recipient": recipient, "payload": payload}])
