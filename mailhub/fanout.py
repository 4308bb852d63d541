"""Turn one accepted message into outbox rows: one per recipient, unique by key, one transaction."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from sqlmodel import Session, select

from mailhub.db import insert_ignoring_duplicates
from mailhub.models import Member, Message, Outbox, utcnow


def enqueue(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    now = utcnow()
    full = [{"next_attempt_at": now, "created_at": now, "state": "pending", "attempts": 0,
             "last_error": "", "payload": None, "message_pk": None, "member_id": None, **r} for r in rows]
    insert_ignoring_duplicates(session, Outbox, full, ["key"])


@dataclass(frozen=True)
class Roster:
    """A group's members as plain tuples, read once per processing batch rather than per message."""

    members: tuple[tuple[int, str, str, str], ...]  # id, email, role, delivery

    def role_of(self, address: str) -> Optional[str]:
        return next((role for _, email, role, _ in self.members if email == address), None)

    def recipients(self, author: str, include_author: bool) -> list[tuple[int, str]]:
        return [(mid, email) for mid, email, _, delivery in self.members
                if delivery == "each" and (include_author or email != author)]


class Rosters:
    """Rosters read during one processing batch (a fraction of a second): a member added
    meanwhile counts from the next batch on."""

    def __init__(self) -> None:
        self._by_group: dict[int, Roster] = {}

    def get(self, session: Session, group_id: int) -> Roster:
        if group_id not in self._by_group:
            rows = session.exec(select(Member.id, Member.email, Member.role, Member.delivery)
                                     .where(Member.group_id == group_id)).all()
            self._by_group[group_id] = Roster(tuple((r[0], r[1], r[2], r[3]) for r in rows))
        return self._by_group[group_id]


def fan_out(session: Session, message: Message, roster: Roster, author: str, include_author: bool) -> int:
    members = roster.recipients(author, include_author)
    enqueue(session, (
        {"key": f"copy:{message.id}:{mid}", "kind": "copy", "message_pk": message.id,
         "member_id": mid, "group_id": message.group_id, "recipient": email}
        for mid, email in members
    ))
    return len(members)


def queue_notice(session: Session, group_id: int, key: str, recipient: str, payload: bytes) -> None:
    enqueue(session, [{"key": key, "kind": "notice", "group_id": group_id,
                       "recipient": recipient, "payload": payload}])
