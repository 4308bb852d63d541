"""A member's copy of an event post: an iMIP invitation to them (RFC 6047). The list copy's
headers (From rewritten, List-*, Reply-To to the topic, their leave address), then a text part with
the date in the member's time zone and the reply words, and the invitation itself:
`text/calendar; method=REQUEST` (or CANCEL) with the member as ATTENDEE RSVP=TRUE and the group
as ORGANIZER, beside an `invite.ics` attachment as Google sends it. Members who read plain text get
the text alone; `get event ID` sends them the .ics."""
from __future__ import annotations

import email
import email.encoders
from datetime import datetime
from email.message import Message as EmailMessage
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from typing import TYPE_CHECKING, Optional
from zoneinfo import ZoneInfo

from sqlmodel import Session

from mailhub.config import Config
from mailhub.digest_jobs import member_zone
from mailhub.events.ical import Attendee, next_start, write_calendar
from mailhub.events.record import aware, event_of_topic
from mailhub.models import Event, Group, Member, Message, Rsvp, Topic, utcnow
from mailhub.notices import render
from mailhub.router import address_for
from mailhub.wire import flatten
from sqlmodel import select

if TYPE_CHECKING:
    from mailhub.deliver import Composer, Job
    from mailhub.digest import Reader
    from mailhub.models import Outbox

_BODY_HEADERS = ("Content-Type", "Content-Transfer-Encoding", "MIME-Version", "Content-Disposition")


def organizer(config: Config, group: Group, topic: Optional[Topic]) -> str:
    """The group, at the topic's address: a calendar's REPLY (sent to the ORGANIZER) lands in the topic."""
    return address_for(group.name, config.server.domain, token=topic.key if topic else None)


def calendar_for(config: Config, group: Group, event: Event, topic: Optional[Topic], method: str,
                 attendee: Optional[Attendee] = None) -> bytes:
    """`event` as `method` (REQUEST, CANCEL, PUBLISH), to `attendee` when given."""
    return write_calendar(method, uid=event.uid, sequence=event.sequence, title=event.title,
                          start=aware(event.starts_at), end=aware(event.ends_at), zone=event.zone,
                          all_day=event.all_day, location=event.location, description=event.description,
                          organizer=organizer(config, group, topic), organizer_name=group.title or group.name,
                          rrule=event.rrule, attendees=(attendee,) if attendee else (),
                          cancelled=event.status == "cancelled", stamp=aware(event.updated_at))


def details(event: Event, zone: str, now: Optional[datetime] = None) -> dict:
    """What the templates show of an event, for a reader in `zone`: its next start (the next
    occurrence of a recurring one), its end, where."""
    start = aware(event.starts_at)
    upcoming = next_start(start, event.rrule, event.zone, now or utcnow()) or start
    return {"id": event.id, "title": event.title, "start": upcoming, "end": upcoming + (aware(event.ends_at) - start),
            "zone": ZoneInfo(zone), "zone_name": zone, "location": event.location, "recurring": bool(event.rrule),
            "rrule": event.rrule, "cancelled": event.status == "cancelled", "all_day": event.all_day}


def ics_file(data: bytes, method: str, name: str = "invite.ics") -> MIMEBase:
    part = MIMEBase("application", "ics", name=name)
    part.set_payload(data)
    email.encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename=name)
    return part


def _text(text: str) -> MIMEText:
    return MIMEText(text, "plain", "utf-8")


def build(head_and_copy: bytes, text: str, calendar: Optional[bytes], method: str) -> bytes:
    """The list copy's headers over a new body: the text, and the invitation unless None."""
    msg = email.message_from_bytes(head_and_copy, policy=compat32)
    for name in _BODY_HEADERS:
        del msg[name]
    if calendar is None:
        body: EmailMessage = _text(text)
    else:
        cal = MIMEText(calendar.decode("utf-8"), "calendar", "utf-8")
        cal.set_param("method", method)
        alternative = MIMEMultipart("alternative", _subparts=[_text(text), cal])
        body = MIMEMultipart("mixed", _subparts=[alternative, ics_file(calendar, method)])
    for name, value in body.items():
        msg[name] = value
    msg.set_payload(body.get_payload())
    return flatten(msg)


def copy_text(copy: bytes) -> str:
    """The text of the plain list copy (the author's text and the footer)."""
    msg = email.message_from_bytes(copy, policy=compat32)
    # One part, or the text and the footer in two (compose._set_text, for a text sent in base64).
    return "\n\n".join((part.get_payload(decode=True) or b"").decode(part.get_content_charset() or "utf-8",
                                                                    errors="replace").rstrip("\n")
                        for part in msg.walk() if part.get_content_type() == "text/plain")


def invite_job(composer: Composer, row: Outbox, members: dict[int, Reader]) -> Job:
    """The outbox row of kind `invite`: one member's invitation. What every member's has in
    common (the event, its answers, its dates in a zone) is read or made once per batch."""
    from mailhub.deliver import Job  # deliver imports this module's caller

    session: Session = composer.session
    config: Config = composer.config
    reader = members.get(row.member_id) if row.member_id is not None else None
    if row.message_pk is None or reader is None:
        raise LookupError("the member has left the group")
    message_pk = row.message_pk
    message, event, topic = composer.once(("event", message_pk), lambda: _event_post(session, message_pk))
    group = composer.group(message.group_id)
    name, domain = group.name, config.server.domain
    copy = composer.copy(message_pk, True, reader.language)
    data = copy.for_recipient(address_for(name, domain, "leave", reader.token), composer.unsubscribe_link(reader),
                              composer.relay_token(row, copy, reader))
    bounces = address_for(name, domain, "bounces", reader.token)
    if event is None:  # not an event after all: the text copy as it is
        return Job(row.id, bounces, row.recipient, data)
    zones = composer.once(("zones", group.id), lambda: dict(session.exec(
        select(Member.id, Member.timezone).where(Member.group_id == group.id)).all()))
    answered = composer.once(("rsvps", event.id), lambda: dict(session.exec(
        select(Rsvp.email, Rsvp.status).where(Rsvp.event_id == event.id)).all()))
    zone = member_zone(config, group, zones.get(reader.member_id))
    shown = composer.once(("details", event.id, zone), lambda: details(event, zone))
    method = "CANCEL" if event.status == "cancelled" else "REQUEST"
    status = answered.get(reader.email, "")
    text = render(config.templates, "event_copy.txt", reader.language, event=shown, plain=reader.plain,
                  group=name, request_address=address_for(name, domain, "request"), answered=status)
    whole = f"{text.rstrip()}\n\n{copy_text(data)}"
    calendar = None if reader.plain else calendar_for(config, group, event, topic, method,
                                                      Attendee(reader.email, reader.name, status))
    return Job(row.id, bounces, row.recipient, build(data, whole, calendar, method))


def _event_post(session: Session, message_pk: int) -> tuple[Message, Optional[Event], Optional[Topic]]:
    message = session.get(Message, message_pk)
    if message is None:
        raise LookupError(f"message {message_pk} no longer exists")
    event = event_of_topic(session, message.topic_id)
    topic = session.get(Topic, event.topic_id) if event is not None and event.topic_id else None
    return message, event, topic


def ics_attachment(config: Config, group: Group, event: Event, topic: Optional[Topic]):  # noqa: ANN201
    """The event's .ics for `get event ID` and `events`: METHOD:PUBLISH, to add to a calendar."""
    from mailhub.attachments import AttachedFile

    data = calendar_for(config, group, event, topic, "CANCEL" if event.status == "cancelled" else "PUBLISH")
    return AttachedFile(f"event-{event.id}.ics", "text/calendar", data)


