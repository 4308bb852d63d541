"""Reading and writing iCalendar (RFC 5545) with the `icalendar` library. Pure functions: bytes
in, small typed values out. Google writes UTC times without VTIMEZONE, Outlook Windows zone names
("W. Europe Standard Time") with a VTIMEZONE, Apple IANA names with one: each reads to the same
moment in UTC and an IANA zone to show it in."""
from __future__ import annotations

import email
import email.policy
import email.utils
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from itertools import islice
from typing import Any, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr
from icalendar import Calendar, Event as VEvent, vCalAddress, vRecur
from icalendar.timezone import windows_to_olson

CALENDAR_TYPES = ("text/calendar", "application/ics")
METHODS = ("REQUEST", "PUBLISH", "CANCEL", "REPLY")
PARTSTATS = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentative"}
PRODID = "-//mailhub//events//EN"
DEFAULT_LENGTH = timedelta(hours=1)  # RFC 5545 3.6.1: no DTEND nor DURATION; a timed event this long


class BadCalendar(ValueError):
    """Why an invitation cannot be an event: `code` is unreadable, no_start or past (the note to the
    sender says it in their words)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass(frozen=True)
class Invite:
    method: str  # REQUEST, PUBLISH or CANCEL
    uid: str
    sequence: int
    title: str
    start: datetime  # UTC
    end: datetime  # UTC
    zone: str  # IANA
    all_day: bool = False
    location: str = ""
    description: str = ""
    organizer: str = ""
    rrule: str = ""


@dataclass(frozen=True)
class Answer:
    uid: str
    attendee: str  # address, lower case
    status: str  # accepted, declined, tentative
    sequence: int = 0


def calendar_parts(raw: bytes) -> list[tuple[str, bytes]]:
    """The calendar parts of a mail: (METHOD from the Content-Type, or "", decoded bytes)."""
    if b"calendar" not in raw.lower() and b"ics" not in raw.lower():
        return []
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        found = []
        for part in msg.walk():
            if part.get_content_type() in CALENDAR_TYPES or str(part.get_filename() or "").lower().endswith(".ics"):
                data = part.get_payload(decode=True)
                if data:
                    found.append((str(part.get_param("method") or "").upper(), data))
        return found
    except Exception:  # noqa: BLE001 - mail the email package cannot walk has no calendar we can read
        return []


def _calendar(data: bytes) -> Calendar:
    try:
        return Calendar.from_ical(data)
    except Exception as exc:  # noqa: BLE001 - the library raises ValueError, KeyError, IndexError …
        raise BadCalendar("unreadable", str(exc)[:200]) from exc


def _text(event: VEvent, name: str) -> str:
    value = event.get(name)
    return " ".join(str(value).split()) if value is not None and name != "DESCRIPTION" else str(value or "").strip()


def _address(value: object) -> str:
    text = str(value or "")
    return email.utils.parseaddr(text[7:] if text.lower().startswith("mailto:") else text)[1].lower()


def zone_name(tzid: str) -> Optional[str]:
    """An IANA zone for a TZID as clients write it: IANA already, a Windows name, or Outlook's
    "(UTC+01:00) Amsterdam, Berlin…" label it sometimes has; None when unknown."""
    for name in (tzid, windows_to_olson.WINDOWS_TO_OLSON.get(tzid, "")):
        if name:
            try:
                return ZoneInfo(name).key
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return None


def _moment(prop: object, zone_hint: str) -> tuple[datetime, str, bool]:
    """(UTC moment, IANA zone, all day) of a DTSTART/DTEND property."""
    value = prop.dt  # type: ignore[attr-defined]
    tzid = str(prop.params.get("TZID", ""))  # type: ignore[attr-defined]
    if isinstance(value, datetime):
        zone = zone_name(tzid) if tzid else None
        if value.tzinfo is None:  # floating time: the calendar's own zone, else UTC
            value = value.replace(tzinfo=ZoneInfo(zone or zone_hint or "UTC"))
        return value.astimezone(timezone.utc), zone or zone_hint or "UTC", False
    if isinstance(value, date):
        zone = zone_hint or "UTC"
        return datetime.combine(value, time(0), ZoneInfo(zone)).astimezone(timezone.utc), zone, True
    raise BadCalendar("no_start")


def read_invite(data: bytes, method: str = "") -> Invite:
    """The first VEVENT of a calendar part. Raises BadCalendar."""
    cal = _calendar(data)
    method = str(cal.get("METHOD") or method or "PUBLISH").upper()
    events = cal.walk("VEVENT")
    if not events:
        raise BadCalendar("unreadable", "no VEVENT")
    ev = events[0]
    hint = zone_name(str(cal.get("X-WR-TIMEZONE") or "")) or ""
    if ev.get("DTSTART") is None:
        raise BadCalendar("no_start")
    try:
        start, zone, all_day = _moment(ev["DTSTART"], hint)
        if ev.get("DTEND") is not None:
            end = _moment(ev["DTEND"], zone)[0]
        elif ev.get("DURATION") is not None:
            end = start + ev.decoded("DURATION")
        else:
            end = start + (timedelta(days=1) if all_day else DEFAULT_LENGTH)
    except BadCalendar:
        raise
    except Exception as exc:  # noqa: BLE001 - a date the library cannot read
        raise BadCalendar("unreadable", str(exc)[:200]) from exc
    rule = ev.get("RRULE")
    rrule = rule.to_ical().decode() if isinstance(rule, vRecur) else ""
    uid = _text(ev, "UID")
    if not uid:
        raise BadCalendar("unreadable", "no UID")
    sequence = _sequence(ev)
    return Invite(method=method if method in METHODS else "PUBLISH", uid=uid[:255], sequence=sequence,
                  title=_text(ev, "SUMMARY")[:300], start=start, end=max(end, start), zone=zone, all_day=all_day,
                  location=_text(ev, "LOCATION")[:300], description=_text(ev, "DESCRIPTION")[:4000],
                  organizer=_address(ev.get("ORGANIZER")), rrule=rrule[:500])


def _sequence(ev: Any) -> int:
    """SEQUENCE as a number; 0 when it is missing or not one (some programs write "1.0")."""
    try:
        return int(float(str(ev.get("SEQUENCE") or 0)))
    except (ValueError, OverflowError):
        return 0


def read_answer(data: bytes, sender: str) -> Optional[Answer]:
    """A METHOD:REPLY: the attendee's PARTSTAT. The attendee is the sender's ATTENDEE line when
    there is one, else the only one (Outlook writes the address it was invited at)."""
    cal = _calendar(data)
    if str(cal.get("METHOD") or "").upper() != "REPLY":
        return None
    for ev in cal.walk("VEVENT"):
        attendees = ev.get("ATTENDEE")
        attendees = attendees if isinstance(attendees, list) else [attendees] if attendees is not None else []
        chosen = next((a for a in attendees if _address(a) == sender), attendees[0] if len(attendees) == 1 else None)
        if chosen is None:
            continue
        status = PARTSTATS.get(str(chosen.params.get("PARTSTAT", "")).upper())
        if status:
            return Answer(_text(ev, "UID"), _address(chosen), status, _sequence(ev))
    return None


# Occurrences of a recurring event looked through for the next one: ten years of a daily event.
MAX_OCCURRENCES = 3700


def next_start(start: datetime, rrule: str, zone: str, now: datetime) -> Optional[datetime]:
    """The first start at or after `now` (UTC), or None: the event's start, or for a recurring one
    the next occurrence by its rule, counted in its own zone (a weekly 18:00 stays 18:00 over DST)."""
    if not rrule:
        return start if start >= now else None
    local = start.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    try:
        rule = rrulestr(rrule, dtstart=local, ignoretz=True)
    except (ValueError, TypeError):
        return start if start >= now else None
    # Stepped through, at most MAX_OCCURRENCES: a rule from anyone's mail (every second since
    # 2020) must not hold the worker, which holds the write lock, for minutes.
    here = now.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    after = next((when for when in islice(rule, MAX_OCCURRENCES) if when >= here), None)
    return after.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc) if after else None


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""
    status: str = ""  # accepted, declined, tentative, or "" (not answered)


def write_calendar(method: str, *, uid: str, sequence: int, title: str, start: datetime, end: datetime, zone: str,
                   all_day: bool, location: str, description: str, organizer: str, organizer_name: str,
                   rrule: str = "", attendees: tuple[Attendee, ...] = (), cancelled: bool = False,
                   stamp: Optional[datetime] = None) -> bytes:
    """One VEVENT in a VCALENDAR with `method`. Times in their own zone with its VTIMEZONE, so a
    recurring event keeps its local hour; every attendee is asked to answer (RSVP=TRUE)."""
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", method)
    ev = VEvent()
    ev.add("UID", uid)
    ev.add("SEQUENCE", sequence)
    ev.add("DTSTAMP", stamp or datetime.now(timezone.utc))
    if all_day:
        ev.add("DTSTART", start.astimezone(ZoneInfo(zone)).date())
        ev.add("DTEND", end.astimezone(ZoneInfo(zone)).date())
    else:
        ev.add("DTSTART", start.astimezone(ZoneInfo(zone)))
        ev.add("DTEND", end.astimezone(ZoneInfo(zone)))
    ev.add("SUMMARY", title)
    if location:
        ev.add("LOCATION", location)
    if description:
        ev.add("DESCRIPTION", description)
    if rrule:
        ev.add("RRULE", vRecur.from_ical(rrule))
    org = vCalAddress(f"mailto:{organizer}")
    if organizer_name:
        org.params["CN"] = organizer_name
    ev.add("ORGANIZER", org)
    for a in attendees:
        who = vCalAddress(f"mailto:{a.email}")
        if a.name:
            who.params["CN"] = a.name
        who.params["ROLE"] = "REQ-PARTICIPANT"
        who.params["PARTSTAT"] = {v: k for k, v in PARTSTATS.items()}.get(a.status, "NEEDS-ACTION")
        who.params["RSVP"] = "TRUE"
        ev.add("ATTENDEE", who)
    ev.add("STATUS", "CANCELLED" if cancelled else "CONFIRMED")
    cal.add_component(ev)
    if not all_day and zone != "UTC":
        cal.add_missing_timezones()
    return cal.to_ical()
