"""Events and answers as rows. Called from processing: `place` and `on_published` around a post's
publishing (an invitation becomes an event, an update or cancel changes it, a bad one is posted as
it is with a note to the sender), `on_reply` for a calendar REPLY or a one-word yes/no/maybe.
Idempotent like every processing step: keys and unique rows, never counters."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import NamedTuple, Optional

from sqlalchemy import update
from sqlmodel import Session, col, select

from mailhub.config import Config
from mailhub.events.ical import Answer, BadCalendar, Invite, calendar_parts, next_start, read_answer, read_invite
from mailhub.i18n.words import meaning
from mailhub.logs import event as log_event
from mailhub.models import Event, Group, Member, Message, Outbox, Rsvp, Topic, utcnow
from mailhub.notices import answer
from mailhub.parse import Parsed
from mailhub.thread import find_topic, live_topic, strip_prefixes

log = logging.getLogger(__name__)

INVITE = "invite"  # the outbox kind of a member's invitation copy (built by events.invite)
LONGEST_WORD = 3


def has_calendar(mail: Parsed) -> bool:
    return any(a.content_type in ("text/calendar", "application/ics") or a.filename.lower().endswith(".ics")
               for a in mail.attachments)


def aware(moment: datetime) -> datetime:
    """SQLite gives stored times back without their zone: UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _invite(raw: bytes) -> tuple[Optional[Invite], Optional[BadCalendar]]:
    """The mail's invitation (REQUEST, PUBLISH or CANCEL), or why it cannot be one; (None, None)
    for a mail whose calendar part is something else (a REPLY, a free/busy)."""
    problem: Optional[BadCalendar] = None
    for method, data in calendar_parts(raw):
        try:
            found = read_invite(data, method)
        except BadCalendar as exc:
            problem = problem or exc
            continue
        return found, None
    return None, problem


def find_event(session: Session, group_id: int, uid: str) -> Optional[Event]:
    return session.exec(select(Event).where(Event.group_id == group_id, Event.uid == uid)).first()


def event_of_topic(session: Session, topic_id: Optional[int]) -> Optional[Event]:
    if topic_id is None:
        return None
    return session.exec(select(Event).where(Event.topic_id == live_topic(session, topic_id))).first()


def place(session: Session, group: Group, message: Message, mail: Parsed) -> None:
    """Before threading: an update or cancel of a known event joins the event's topic, whatever
    its subject says (Outlook writes "Updated: …", "Canceled: …")."""
    if message.topic_id is not None or not has_calendar(mail):
        return
    invite, _ = _invite(message.raw)
    known = find_event(session, group.id, invite.uid) if invite is not None else None
    topic = session.get(Topic, live_topic(session, known.topic_id)) if known and known.topic_id else None
    if topic is not None:  # as if sent to the topic's address
        message.address_token = topic.key


def on_published(session: Session, config: Config, group: Group, message: Message, mail: Parsed) -> None:
    """After fan-out: record the event, or tell the sender why their invitation is only a post.
    Members' copies of an event become invitations to each of them."""
    if not has_calendar(mail):
        return
    invite, problem = _invite(message.raw)
    now = utcnow()
    if invite is not None and invite.method != "CANCEL" and next_start(invite.start, invite.rrule, invite.zone,
                                                                        now) is None:
        invite, problem = None, BadCalendar("past")
    if invite is None:
        if problem is not None:
            answer(session, config, group, mail.from_addr, f"event-note:{message.id}", "event_note.txt",
                   mail.language, in_reply_to=message.message_id, problem=problem.code, subject=message.subject)
            log_event(log, "event_refused", group=group.name, id=message.id, reason=str(problem))
        return
    known = find_event(session, group.id, invite.uid)
    if known is None:
        if invite.method == "CANCEL":
            return  # a cancel of an event this group never had: an ordinary post
        known = Event(group_id=group.id, uid=invite.uid, sequence=invite.sequence, starts_at=invite.start,
                      ends_at=invite.end, organizer=invite.organizer or mail.from_addr, topic_id=message.topic_id)
    elif invite.sequence < known.sequence or (known.message_pk == message.id):
        return  # an older version arriving late, or this very mail processed again
    else:
        known.sequence = invite.sequence
    known.message_pk = message.id
    if invite.method == "CANCEL":
        known.status = "cancelled"
    else:
        known.status = "confirmed"
        known.title = invite.title or message.subject
        known.starts_at, known.ends_at, known.zone, known.all_day = invite.start, invite.end, invite.zone, invite.all_day
        known.location, known.description, known.rrule = invite.location, invite.description, invite.rrule
    known.updated_at = now
    session.add(known)
    session.flush()
    # Each member's copy is their own invitation: same rows, built by events.invite at send time.
    session.execute(update(Outbox).where(Outbox.message_pk == message.id, Outbox.kind == "copy")
                    .values(kind=INVITE))
    log_event(log, "event_recorded", group=group.name, id=message.id, uid=invite.uid, method=invite.method,
              sequence=invite.sequence)


def rsvp_word(subject: str, new: str, list_prefix: str) -> Optional[str]:
    """accepted, declined or tentative when all the person wrote is yes, no or maybe (in any
    shipped language); with nothing written, the subject alone."""
    for text in (new, strip_prefixes(subject, list_prefix)[0] if not new.strip() else ""):
        words = " ".join(text.split()).strip(".!")
        if words and len(words.split()) <= LONGEST_WORD:
            english = meaning("rsvp", words)
            if english:
                return {"yes": "accepted", "no": "declined", "maybe": "tentative"}[english]
    return None


def set_answer(session: Session, event: Event, address: str, status: str) -> Optional[str]:
    """Record `address`'s answer; returns the one it replaces (None for a first answer)."""
    row = session.exec(select(Rsvp).where(Rsvp.event_id == event.id, Rsvp.email == address)).first()
    before = row.status if row is not None else None
    row = row or Rsvp(event_id=event.id, email=address, status=status)  # type: ignore[arg-type]
    row.status, row.answered_at = status, utcnow()
    session.add(row)
    return before


def on_reply(session: Session, config: Config, group: Group, message: Message, mail: Parsed) -> bool:
    """A member's answer to an event: a calendar REPLY (to the topic address or the group's) or a
    reply whose whole text is yes, no or maybe in an event's topic. Recorded, not posted, and the
    member gets one line back. False for any other mail."""
    found: Optional[tuple[Event, str]] = None
    if has_calendar(mail):
        for _, data in calendar_parts(message.raw):
            try:
                reply: Optional[Answer] = read_answer(data, mail.from_addr)
            except BadCalendar:
                continue
            event = find_event(session, group.id, reply.uid) if reply is not None else None
            if reply is not None and event is not None:
                found = event, reply.status
                break
    if found is None:
        status = rsvp_word(mail.subject, message.new_text, group.prefix)
        if status is None:
            return False
        topic_id = find_topic(session, group.id, group.prefix, mail, message.address_token, message.received_at,
                              config.threading.subject_window_days)
        event = event_of_topic(session, topic_id)
        if event is None:
            return False  # "yes" to an ordinary topic is a post like any other
        found = event, status
    event, status = found
    member = session.exec(select(Member).where(Member.group_id == group.id, Member.email == mail.from_addr)).first()
    message.state = "done"
    if member is None:
        message.reason = "answer to an event from a non-member: not recorded"
        return True
    before = set_answer(session, event, member.email, status)
    message.reason = f"event {event.id}: {status}"
    topic = session.get(Topic, event.topic_id) if event.topic_id else None
    answer(session, config, group, member.email, f"rsvp:{message.id}", "event_answered.txt", None,
           in_reply_to=message.message_id, event_title=event.title or (topic.subject if topic else ""),
           status=status, before=before, cancelled=event.status == "cancelled")
    return True


def upcoming(session: Session, group_id: int, now: datetime, limit: int = 10) -> list[tuple[Event, datetime]]:
    """The group's events still to come, with their next start, soonest first (cancelled ones left out)."""
    rows = session.exec(select(Event).where(Event.group_id == group_id, Event.status == "confirmed")
                        .order_by(col(Event.starts_at))).all()
    found = []
    for e in rows:
        start = next_start(aware(e.starts_at), e.rrule, e.zone, now)
        if start is not None:
            found.append((e, start))
    return sorted(found, key=lambda p: p[1])[:limit]


def counts(session: Session, event_id: int) -> dict[str, int]:
    found = {"accepted": 0, "declined": 0, "tentative": 0}
    for status in session.exec(select(Rsvp.status).where(Rsvp.event_id == event_id)):
        found[status] = found.get(status, 0) + 1
    return found


def answers(session: Session, event_id: int) -> list[Rsvp]:
    return list(session.exec(select(Rsvp).where(Rsvp.event_id == event_id).order_by(col(Rsvp.email))).all())


def message_of(session: Session, event: Event) -> Optional[Message]:
    return session.get(Message, event.message_pk) if event.message_pk else None


class UpcomingEvent(NamedTuple):
    """An event as a digest lists it: its next start, and the topic key its answers go to."""

    id: int
    title: str
    start: datetime
    end: datetime
    all_day: bool
    location: str
    recurring: bool
    key: str


DIGEST_EVENTS = 5  # a digest lists the next five events, however far off


def upcoming_events(session: Session, group_id: int, now: datetime) -> list[UpcomingEvent]:
    found = []
    for e, start in upcoming(session, group_id, now, DIGEST_EVENTS):
        topic = session.get(Topic, e.topic_id) if e.topic_id else None
        found.append(UpcomingEvent(e.id, e.title, start, start + (aware(e.ends_at) - aware(e.starts_at)),
                                   e.all_day, e.location, bool(e.rrule), topic.key if topic else ""))
    return found
