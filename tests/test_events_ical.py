"""Reading the invitations Google Calendar, Outlook and Apple Calendar write, their REPLYs, and
writing mailhub's own (pure functions: no service)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from string import Template

import pytest
from icalendar import Calendar

from mailhub.events.ical import (Attendee, BadCalendar, next_start, read_answer, read_invite, write_calendar,
                                 zone_name)
from mailhub.events.record import rsvp_word
from mailhub.events.reminders import due

DATA = Path(__file__).parent / "data" / "events"
YEAR = datetime.now(timezone.utc).year + 1


def fixture(name: str, **values: object) -> bytes:
    text = (DATA / name).read_text(encoding="utf-8")
    return Template(text).safe_substitute({"YEAR": YEAR, "SEQUENCE": 0, **values}).encode()


def test_google_utc_outlook_windows_zone_and_apple_iana_zone_read_to_the_same_kind_of_moment():
    google = read_invite(fixture("google_request.ics"))
    assert google.method == "REQUEST" and google.uid == "7kukuqrfedlm2f9t0vr7vmcb1b@google.com"
    assert google.start == datetime(YEAR, 2, 15, 17, tzinfo=timezone.utc) and google.zone == "UTC"
    assert google.title == "Pricing clinic" and google.organizer == "ann@example.com"
    assert "Google Meet" in google.description and google.location.startswith("https://meet.google.com/")

    outlook = read_invite(fixture("outlook_request.ics"))
    assert outlook.zone == "Europe/Berlin"  # "W. Europe Standard Time"
    assert outlook.start == datetime(YEAR, 2, 10, 13, tzinfo=timezone.utc)  # 14:00 CET
    assert outlook.end - outlook.start == timedelta(minutes=90)
    assert outlook.location == "Room 4, Impact Hub Berlin" and outlook.title == "Mentor meet-up"
    assert outlook.uid.startswith("040000008200E00074C5B7101A82E008") and outlook.uid.endswith("F60718")

    apple = read_invite(fixture("apple_request.ics"))
    assert apple.zone == "America/Sao_Paulo" and apple.start == datetime(YEAR, 2, 20, 12, tzinfo=timezone.utc)
    assert apple.title == "Café da manhã dos mentores" and apple.organizer == "cat@example.com"


def test_update_and_cancel_keep_the_uid_with_a_higher_sequence():
    first = read_invite(fixture("outlook_request.ics"))
    update = read_invite(fixture("outlook_request.ics", SEQUENCE=1))
    cancel = read_invite(fixture("outlook_cancel.ics"))
    assert first.uid == update.uid == cancel.uid
    assert (first.sequence, update.sequence, cancel.sequence) == (0, 1, 2) and cancel.method == "CANCEL"


def test_replies_from_each_client():
    values = dict(UID="u-1@lists.example.org", ORGANIZER="mentors+k1@lists.example.org")
    google = read_answer(fixture("google_reply.ics", ATTENDEE="bea@example.com", **values), "bea@example.com")
    outlook = read_answer(fixture("outlook_reply.ics", ATTENDEE="Bea@Example.com", **values), "bea@example.com")
    apple = read_answer(fixture("apple_reply.ics", ATTENDEE="cat@example.com", **values), "cat@example.com")
    assert (google.status, outlook.status, apple.status) == ("accepted", "declined", "tentative")
    assert google.uid == outlook.uid == apple.uid == "u-1@lists.example.org"
    assert outlook.attendee == "bea@example.com"
    assert read_answer(fixture("google_request.ics"), "ann@example.com") is None  # not a REPLY


def test_bad_invitations_say_why():
    with pytest.raises(BadCalendar) as no_start:
        read_invite(fixture("no_start.ics"))
    assert no_start.value.code == "no_start"
    with pytest.raises(BadCalendar) as garbage:
        read_invite(b"BEGIN:VCALENDAR\r\nthis is not\r\n")
    assert garbage.value.code == "unreadable"
    past = read_invite(fixture("past.ics"))
    assert next_start(past.start, past.rrule, past.zone, datetime.now(timezone.utc)) is None


def test_a_recurring_event_keeps_its_rule_and_its_local_hour():
    weekly = read_invite(fixture("google_recurring.ics"))
    assert weekly.rrule == "FREQ=WEEKLY;BYDAY=WE" and weekly.zone == "Africa/Nairobi"
    after = datetime(YEAR, 3, 5, tzinfo=timezone.utc)  # a Friday
    nxt = next_start(weekly.start, weekly.rrule, weekly.zone, after)
    assert nxt == datetime(YEAR, 3, 10, 6, tzinfo=timezone.utc) or nxt.weekday() == 2  # Wednesday 09:00 Nairobi
    assert nxt.astimezone(__import__("zoneinfo").ZoneInfo("Africa/Nairobi")).hour == 9
    berlin = next_start(datetime(YEAR, 3, 1, 17, tzinfo=timezone.utc), "FREQ=WEEKLY", "Europe/Berlin",
                        datetime(YEAR, 4, 1, tzinfo=timezone.utc))
    assert berlin.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).hour == 18  # over the DST change


def test_written_invitation_names_the_member_as_attendee_and_the_group_as_organizer():
    data = write_calendar("REQUEST", uid="u-1", sequence=3, title="Clinic", start=datetime(YEAR, 2, 1, 17,
                          tzinfo=timezone.utc), end=datetime(YEAR, 2, 1, 18, tzinfo=timezone.utc),
                          zone="Europe/Berlin", all_day=False, location="Zoom", description="", organizer=
                          "mentors+k1@lists.example.org", organizer_name="Mentors",
                          attendees=(Attendee("bea@example.com", "Bea"),))
    cal = Calendar.from_ical(data)
    ev = cal.walk("VEVENT")[0]
    assert str(cal["METHOD"]) == "REQUEST" and cal.walk("VTIMEZONE")
    assert str(ev["ORGANIZER"]) == "mailto:mentors+k1@lists.example.org"
    assert str(ev["ATTENDEE"]) == "mailto:bea@example.com" and ev["ATTENDEE"].params["RSVP"] == "TRUE"
    assert ev["ATTENDEE"].params["PARTSTAT"] == "NEEDS-ACTION" and int(ev["SEQUENCE"]) == 3
    again = read_invite(data)
    assert again.start == datetime(YEAR, 2, 1, 17, tzinfo=timezone.utc) and again.zone == "Europe/Berlin"


def test_zone_names_and_rsvp_words():
    assert zone_name("W. Europe Standard Time") == "Europe/Berlin"
    assert zone_name("E. Africa Standard Time") == "Africa/Nairobi"
    assert zone_name("Nowhere/Special") is None
    assert rsvp_word("Re: [mentors] Clinic", "Yes!", "[mentors]") == "accepted"
    assert rsvp_word("", "maybe", "") == "tentative" and rsvp_word("", "No.", "") == "declined"
    assert rsvp_word("", "yes, and I will bring a friend who wants to know", "") is None
    assert rsvp_word("Re: maybe", "", "") == "tentative"


def test_reminder_is_due_from_the_morning_before_in_the_members_zone():
    start = datetime(YEAR, 2, 15, 17, tzinfo=timezone.utc)  # 18:00 in Berlin, 02:00 next day in Tokyo
    assert due(start, "Europe/Berlin", datetime(YEAR, 2, 14, 7, 30, tzinfo=timezone.utc))  # 08:30 Berlin
    assert not due(start, "Europe/Berlin", datetime(YEAR, 2, 14, 6, tzinfo=timezone.utc))  # 07:00 Berlin
    assert due(start, "Asia/Tokyo", datetime(YEAR, 2, 15, 0, tzinfo=timezone.utc))  # the 15th, 09:00 Tokyo
    assert not due(start, "Asia/Tokyo", datetime(YEAR, 2, 14, 7, 30, tzinfo=timezone.utc))  # 14th 16:30 Tokyo
    assert not due(start, "Europe/Berlin", start)


def test_a_rule_that_repeats_every_second_for_years_is_looked_through_quickly():
    """A rule anyone can mail in must not hold the worker: the next start is looked for among a
    bounded number of occurrences, and a SEQUENCE written as "1.0" still reads."""
    from mailhub.events.ical import MAX_OCCURRENCES, _sequence, next_start

    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    # Stepping through every second since 2020 would find one (after minutes): bounded, none.
    assert next_start(start, "FREQ=SECONDLY", "UTC", datetime(2026, 12, 2, tzinfo=timezone.utc)) is None
    weekly = next_start(start, "FREQ=WEEKLY", "UTC", datetime(2026, 12, 2, tzinfo=timezone.utc))
    assert weekly == datetime(2026, 12, 2, tzinfo=timezone.utc)  # a Wednesday, as 2020-01-01 was
    assert MAX_OCCURRENCES >= 3650
    assert _sequence({"SEQUENCE": "1.0"}) == 1 and _sequence({"SEQUENCE": "x"}) == 0 and _sequence({}) == 0
