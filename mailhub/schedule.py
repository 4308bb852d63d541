"""When digests are due, in each reader's own time zone. Pure functions: a schedule and a
moment in, moments out (aware UTC), so tests can move the clock anywhere."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ScheduleError(ValueError):
    """A schedule a person wrote that cannot be read; the text says how to write it."""


def read_time(text: str) -> time:
    """`07:00` or `7:00`, 24-hour."""
    m = _TIME.match(text.strip())
    if not m:
        raise ScheduleError(f"'{text}' is not a time like 07:00 (24-hour HH:MM)")
    return time(int(m.group(1)), int(m.group(2)))


def read_weekly(text: str) -> tuple[int, time]:
    """`mon 07:00`: the weekday (0 = Monday) and the time."""
    day, _, at = text.strip().lower().partition(" ")
    if day not in WEEKDAYS and day not in _DAY_NAMES:
        raise ScheduleError(f"'{text}' is not a weekly time like 'mon 07:00' (days: {', '.join(WEEKDAYS)})")
    return WEEKDAYS.index(day[:3]), read_time(at)


def read_zone(name: str) -> ZoneInfo:
    """An IANA time zone such as Africa/Nairobi or America/Bogota."""
    try:
        if not name or name.startswith("/") or ".." in name:
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone '{name}' (use a name like Africa/Nairobi or UTC)") from None


@dataclass(frozen=True)
class Schedule:
    """Daily at `at` local time, or weekly on `weekday` (0 = Monday) at `at`."""

    at: time
    zone: ZoneInfo
    weekday: Optional[int] = None

    def _local_due(self, day: date) -> datetime:
        return datetime.combine(day, self.at, tzinfo=self.zone)

    def last_due(self, now: datetime) -> datetime:
        """The latest scheduled moment at or before `now`, in UTC."""
        local = now.astimezone(self.zone)
        day = local.date()
        if self.weekday is not None:
            day -= timedelta(days=(day.weekday() - self.weekday) % 7)
        step = timedelta(days=1 if self.weekday is None else 7)
        due = self._local_due(day)
        while due > now:
            day -= step
            due = self._local_due(day)
        return due.astimezone(timezone.utc)

    def next_due(self, now: datetime) -> datetime:
        """The first scheduled moment after `now`, in UTC."""
        step = timedelta(days=1 if self.weekday is None else 7)
        last = self.last_due(now).astimezone(self.zone)
        return self._local_due(last.date() + step).astimezone(timezone.utc)


def digest_schedule(delivery: str, daily: str, weekly: str, zone: str) -> Optional[Schedule]:
    """The schedule of a member's digest (`delivery` daily or weekly), or None for other deliveries.
    The texts were checked when they were set."""
    if delivery == "daily":
        return Schedule(read_time(daily), read_zone(zone))
    if delivery == "weekly":
        weekday, at = read_weekly(weekly)
        return Schedule(at, read_zone(zone), weekday)
    return None
