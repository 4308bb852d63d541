"""Digest times in each reader's own zone: pure schedule arithmetic, the clock set by the test."""
from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from mailhub.schedule import Schedule, ScheduleError, read_time, read_weekly, read_zone


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


NOW = utc(2026, 11, 23, 5, 0)  # a Monday, 05:00 UTC


def test_daily_digest_is_due_at_seven_local_in_nairobi_and_bogota() -> None:
    nairobi = Schedule(time(7, 0), read_zone("Africa/Nairobi"))  # UTC+3
    bogota = Schedule(time(7, 0), read_zone("America/Bogota"))  # UTC-5
    assert nairobi.last_due(NOW) == utc(2026, 11, 23, 4, 0)  # 07:00 in Nairobi has passed
    assert nairobi.next_due(NOW) == utc(2026, 11, 24, 4, 0)
    assert bogota.last_due(NOW) == utc(2026, 11, 22, 12, 0)  # it is midnight in Bogota
    assert bogota.next_due(NOW) == utc(2026, 11, 23, 12, 0)


def test_weekly_digest_on_monday_morning_local() -> None:
    day, at = read_weekly("mon 07:00")
    nairobi = Schedule(at, read_zone("Africa/Nairobi"), day)
    bogota = Schedule(at, read_zone("America/Bogota"), day)
    assert nairobi.last_due(NOW) == utc(2026, 11, 23, 4, 0)
    assert bogota.last_due(NOW) == utc(2026, 11, 16, 12, 0)  # this Monday's has not come yet
    assert bogota.next_due(NOW) == utc(2026, 11, 23, 12, 0)
    assert nairobi.next_due(NOW) == utc(2026, 11, 30, 4, 0)


def test_a_due_moment_counts_as_due_exactly_then() -> None:
    s = Schedule(time(7, 0), read_zone("UTC"))
    assert s.last_due(utc(2026, 11, 23, 7, 0)) == utc(2026, 11, 23, 7, 0)
    assert s.next_due(utc(2026, 11, 23, 7, 0)) == utc(2026, 11, 24, 7, 0)


def test_summer_time_keeps_the_local_hour() -> None:
    london = Schedule(time(7, 0), read_zone("Europe/London"))  # summer time starts 2026-03-29
    assert london.next_due(utc(2026, 3, 28, 8, 0)) == utc(2026, 3, 29, 6, 0)
    assert london.last_due(utc(2026, 3, 28, 8, 0)) == utc(2026, 3, 28, 7, 0)


@pytest.mark.parametrize("reader, text, fragment", [
    (read_time, "7am", "not a time like 07:00"),
    (read_time, "24:00", "not a time like 07:00"),
    (read_weekly, "someday 07:00", "not a weekly time like 'mon 07:00'"),
    (read_weekly, "mon", "not a time like 07:00"),
    (read_zone, "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    (read_zone, "../../etc/passwd", "unknown time zone"),
])
def test_unreadable_schedules_say_how_to_write_them(reader, text: str, fragment: str) -> None:  # noqa: ANN001
    with pytest.raises(ScheduleError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        reader(text)


def test_weekdays_may_be_written_in_full() -> None:
    assert read_weekly("Friday 18:30") == (4, time(18, 30))


def test_a_members_digest_schedule_follows_their_delivery() -> None:
    from mailhub.schedule import digest_schedule
    daily = digest_schedule("daily", "07:00", "mon 07:00", "Africa/Nairobi")
    weekly = digest_schedule("weekly", "07:00", "fri 18:00", "UTC")
    assert daily is not None and daily.last_due(NOW) == utc(2026, 11, 23, 4, 0)
    assert weekly is not None and weekly.last_due(NOW) == utc(2026, 11, 20, 18, 0)
    assert digest_schedule("each", "07:00", "mon 07:00", "UTC") is None
