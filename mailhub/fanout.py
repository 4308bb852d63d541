"""Turn one accepted message into outbox rows: one per recipient, unique by key, one transaction."""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from mailhub.models import Member, Message, Outbox, utcnow


def insert_ignoring_duplicates(session: Session, model: Any, rows: list[dict[str, Any]],
                               keys: list[str]) -> None:
    """Insert rows, skipping any whose unique `keys` are already there: re-running is a no-op."""
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(model).on_conflict_do_nothing(index_elements=keys), rows)


def enqueue(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    now = utcnow()
    full = [{"next_attempt_at": now, "created_at": now, "state": "pending", "attempts": 0,
             "last_error": "", "payload": None, "message_pk": None, "member_id": None, **r} for r in rows]
    insert_ignoring_duplicates(session, Outbox, full, ["key"])


def recipients(session: Session, message: Message, author: str, include_author: bool) -> list[Member]:
    members = session.exec(
        select(Member).where(Member.group_id == message.group_id, Member.delivery == "each")
    ).all()
    return [m for m in members if include_author or m.email != author]


def fan_out(session: Session, message: Message, author: str, include_author: bool) -> int:
    members = recipients(session, message, author, include_author)
    enqueue(session, (
        {"key": f"copy:{message.id}:{m.id}", "kind": "copy", "message_pk": message.id,
         "member_id": m.id, "group_id": message.group_id, "recipient": m.email}
        for m in members
    ))
    return len(members)


def queue_notice(session: Session, group_id: int, key: str, recipient: str, payload: bytes) -> None:
    enqueue(session, [{"key": key, "kind": "notice", "group_id": group_id,
                       "recipient": recipient, "payload": payload}])
