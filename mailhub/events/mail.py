"""Events by mail to `-request@`: `events` lists the next ones with their .ics, `get event ID`
sends one event's .ics (how members who read plain text add it to a calendar)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import select

from mailhub.digest_jobs import member_zone
from mailhub.events.invite import details, ics_attachment
from mailhub.events.record import counts, upcoming
from mailhub.models import Event, Member, Topic, utcnow
from mailhub.router import address_for

if TYPE_CHECKING:
    from mailhub.commands import Command
    from mailhub.request_mail import Request, Result

NEXT_EVENTS = 10


def _row(req: Request, event: Event, zone: str) -> dict[str, Any]:
    topic = req.session.get(Topic, event.topic_id) if event.topic_id else None
    address = address_for(req.group.name, req.config.server.domain, token=topic.key if topic else None)
    return {**details(event, zone), "address": address, "counts": counts(req.session, event.id)}


def events_command(req: Request, cmd: Command, member: Member) -> Result:
    from mailhub.request_mail import Result

    zone = member_zone(req.config, req.group, member.timezone)
    found = upcoming(req.session, req.group.id, utcnow(), NEXT_EVENTS)
    topics = {e.topic_id: req.session.get(Topic, e.topic_id) for e, _ in found if e.topic_id}
    files = tuple(ics_attachment(req.config, req.group, e, topics.get(e.topic_id)) for e, _ in found)
    return Result(cmd.line, "events", {"events": [_row(req, e, zone) for e, _ in found]}, files=files)


def get_event(req: Request, cmd: Command, member: Member) -> Result:
    """`get event 12`: event 12 of this group, as a .ics file to open in a calendar."""
    from mailhub.request_mail import Result

    number = cmd.args[1] if len(cmd.args) == 2 else ""
    event = req.session.exec(select(Event).where(Event.id == int(number), Event.group_id == req.group.id)).first() \
        if number.isdigit() and len(number) < 12 else None
    if event is None:
        return Result(cmd.line, "no_such_event", {"id": number})
    topic = req.session.get(Topic, event.topic_id) if event.topic_id else None
    zone = member_zone(req.config, req.group, member.timezone)
    return Result(cmd.line, "event", {"event": _row(req, event, zone)},
                  files=(ics_attachment(req.config, req.group, event, topic),))
