"""Claim queue rows with a lease, so that any number of workers can share one table."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlmodel import Session

from mailhub.db import writing
from mailhub.models import utcnow


def claim(session: Session, model: Any, condition: Any, limit: int, lease_seconds: float,
          order_by: Any = None) -> list[int]:
    """Lease up to `limit` rows matching `condition` whose lease is free; return their ids.

    One UPDATE … WHERE id IN (SELECT …) RETURNING statement, so two workers never get the same row.
    """
    now = utcnow()
    free = or_(model.lease_until.is_(None), model.lease_until < now)
    pick = select(model.id).where(condition, free).order_by(order_by if order_by is not None else model.id)
    pick = pick.limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (update(model).where(model.id.in_(pick.scalar_subquery()))
            .values(lease_until=now + timedelta(seconds=lease_seconds)).returning(model.id))
    with writing(session.get_bind()):  # type: ignore[arg-type]
        ids = sorted(session.execute(stmt).scalars().all())
        session.commit()
    return ids
