"""The day before an event, in each member's time zone, those who said yes or maybe get a short
reminder. Run by the scheduler (and safe to run any number of times): each reminder's outbox key
names the event, the member and the occurrence, so it is queued once."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailhub.config import Config
from mailhub.db import writing
from mailhub.digest_jobs import member_zone
from mailhub.events.invite import details
from mailhub.events.record import upcoming
from mailhub.models import Group, Member, Outbox, Rsvp, Topic, utcnow
from mailhub.notices import notify
from mailhub.router import address_for

CHECK_SECONDS = 900
REMIND_AT = time(8, 0)  # on the day before, in the member's zone; or at once when answered later
AHEAD = timedelta(days=2)  # events starting within this are looked at


def due(start: datetime, zone: str, now: datetime) -> bool:
    """The reminder of an event starting at `start` is due at `now` for a member in `zone`: from
    08:00 on the local day before until the event starts."""
    local_day = start.astimezone(ZoneInfo(zone)).date() - timedelta(days=1)
    return datetime.combine(local_day, REMIND_AT, ZoneInfo(zone)) <= now < start


def queue_reminders(engine: Engine, config: Config, now: Optional[datetime] = None) -> int:
    """Queue the reminders due at `now`; returns how many were new."""
    now = now or utcnow()
    queued = 0
    with writing(engine), Session(engine) as session:
        for group in session.exec(select(Group)).all():
            for event, start in upcoming(session, group.id, now, limit=100):
                if start - now > AHEAD:
                    continue
                people = session.exec(select(Member).join(Rsvp, col(Rsvp.email) == Member.email).where(
                    Rsvp.event_id == event.id, col(Rsvp.status).in_(("accepted", "tentative")),
                    Member.group_id == group.id, col(Member.disabled_at).is_(None))).all()
                topic = session.get(Topic, event.topic_id) if event.topic_id else None
                for member in people:
                    zone = member_zone(config, group, member.timezone)
                    key = f"remind:{event.id}:{member.id}:{start.strftime('%Y%m%dT%H%M')}"
                    if not due(start, zone, now) or session.exec(select(Outbox.id).where(Outbox.key == key)).first():
                        continue
                    notify(session, config, group, member.email, key, "event_reminder.txt",
                           event=details(event, zone, now),
                           topic_address=address_for(group.name, config.server.domain,
                                                     token=topic.key if topic else None))
                    queued += 1
        session.commit()
    return queued
