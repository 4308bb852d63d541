"""Events by mail, through the running service: invitations as Google Calendar, Outlook and Apple
Calendar send them become events whose copies are invitations to each member; answers come back
as calendar REPLYs or one-word replies; updates, cancels, reminders, digests and the CLI."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from string import Template

import pytest
from icalendar import Calendar

from conftest import DOMAIN, Env, text_of
from mailhub.db import make_engine
from mailhub.events.reminders import queue_reminders

DATA = Path(__file__).parent / "data" / "events"
YEAR = datetime.now(timezone.utc).year + 1
POST = f"mentors@{DOMAIN}"
REQUEST = f"mentors-request@{DOMAIN}"


def ics(name: str, **values: object) -> str:
    text = (DATA / name).read_text(encoding="utf-8")
    return Template(text).safe_substitute({"YEAR": YEAR, "SEQUENCE": 0, **values}).replace("\n", "\r\n")


def calendar_mail(calendar: str, sender: str, subject: str, to: str = POST, method: str = "REQUEST",
                  text: str = "You are invited.", msgid: str = "") -> str:
    """Mail as calendar apps send an invitation: text beside text/calendar in multipart/alternative,
    and the same calendar as an invite.ics attachment (Google's shape; Outlook and Apple send the
    alternative alone, which this contains)."""
    msgid = msgid or f"<{datetime.now().timestamp()}.{subject.__hash__()}@example.com>"
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {msgid}\r\n"
            f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/mixed; boundary="MIX"\r\n\r\n'
            f'--MIX\r\nContent-Type: multipart/alternative; boundary="ALT"\r\n\r\n'
            f"--ALT\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            f'--ALT\r\nContent-Type: text/calendar; charset=utf-8; method={method}\r\n\r\n{calendar}\r\n--ALT--\r\n'
            f'--MIX\r\nContent-Type: application/ics; name="invite.ics"\r\n'
            f'Content-Disposition: attachment; filename="invite.ics"\r\n\r\n{calendar}\r\n--MIX--\r\n')


def plain_mail(sender: str, to: str, subject: str, body: str, headers: str = "") -> str:
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{datetime.now().timestamp()}"
            f"@example.com>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n{headers}\r\n{body}\r\n")


def calendar_of(msg) -> Calendar:  # noqa: ANN001
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    return Calendar.from_ical(part.get_payload(decode=True))


def events_json(env: Env) -> list[dict]:
    return json.loads(env.cli("events", "mentors", "--json", "--all").output)


@pytest.fixture
def group(env: Env, sink) -> Env:  # noqa: ANN001
    env.group("mentors", "ann@example.com", "bea@example.com", "cat@example.com", "dan@example.com")
    env.cli("member", "set", "mentors", "bea@example.com", "--timezone", "Asia/Tokyo", ok=False)
    env.cli("member", "set", "mentors", "dan@example.com", "--plain", "on", ok=False)
    env.start()
    return env


def _settings(env: Env) -> None:
    """Bea reads in Tokyo time, Dan plain text: set by mail, as members do."""
    for who, command in (("bea@example.com", "timezone Asia/Tokyo"), ("dan@example.com", "plain on")):
        env.send(plain_mail(who, REQUEST, "", command), [REQUEST], mail_from=who)


def test_google_invitation_is_an_event_and_each_copy_invites_that_member(group, sink):  # noqa: ANN001
    _settings(group)
    sink.wait("bea@example.com", 1)
    sink.wait("dan@example.com", 1)
    group.send(calendar_mail(ics("google_request.ics"), "Ann <ann@example.com>", "Invitation: Pricing clinic"),
               [POST])
    bea = sink.wait("bea@example.com", 2)[1]
    cal = calendar_of(bea)
    ev = cal.walk("VEVENT")[0]
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(ev["UID"]) == "7kukuqrfedlm2f9t0vr7vmcb1b@google.com"
    assert str(ev["ATTENDEE"]) == "mailto:bea@example.com" and ev["ATTENDEE"].params["RSVP"] == "TRUE"
    topic = json.loads(group.cli("topics", "mentors", "--json").output)[0]
    assert str(ev["ORGANIZER"]) == f"mailto:mentors+{topic['key']}@{DOMAIN}"
    calendar_part = next(p for p in bea.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "REQUEST"
    text = text_of(bea)
    assert "Pricing clinic" in text and "(Asia/Tokyo)" in text and "02:00" in text  # 17:00 UTC in Tokyo
    assert "yes, no or maybe" in text and "You are invited." in text
    dan = sink.wait("dan@example.com", 2)[1]
    assert not any(p.get_content_type() in ("text/calendar", "application/ics") for p in dan.walk())
    assert "17:00" in text_of(dan) and "get event" in text_of(dan)  # UTC, the site's zone

    # The group hides addresses (a new group's default): no invitation names the author, or the
    # other guests Google listed, by address; the .ics of `get event` neither.
    from test_addresses_hidden import forms, readable
    for who, invitation in (("bea@example.com", bea), ("dan@example.com", dan)):
        seen = readable(invitation.as_bytes())
        assert not [a for a in ("ann@example.com", "cat@example.com", "guest@example.org", "bea@example.com",
                                "dan@example.com") if a != who and any(f in seen for f in forms(a))]
    group.send(plain_mail("dan@example.com", REQUEST, "", f"get event {events_json(group)[0]['id']}"), [REQUEST],
               mail_from="dan@example.com")
    answer = sink.wait("dan@example.com", 3)[2]
    assert any(p.get_filename() == f"event-{events_json(group)[0]['id']}.ics" for p in answer.walk())
    shown = events_json(group)[0]
    assert shown["title"] == "Pricing clinic" and shown["organizer"] == "ann@example.com"
    assert shown["start"] == f"{YEAR}-02-15T17:00:00Z" and shown["accepted"] == 0


def test_answers_by_calendar_reply_from_each_client_and_by_one_word(group, sink):  # noqa: ANN001
    group.send(calendar_mail(ics("google_request.ics"), "Ann <ann@example.com>", "Invitation: Pricing clinic"),
               [POST])
    copies = {who: sink.wait(who, 1)[0] for who in ("bea@example.com", "cat@example.com", "dan@example.com")}
    uid = str(calendar_of(copies["bea@example.com"]).walk("VEVENT")[0]["UID"])
    organizer = str(calendar_of(copies["bea@example.com"]).walk("VEVENT")[0]["ORGANIZER"])[7:]
    values = dict(UID=uid, ORGANIZER=organizer)
    # Each calendar app sends its REPLY to the ORGANIZER: the topic's address.
    group.send(calendar_mail(ics("google_reply.ics", ATTENDEE="bea@example.com", **values), "bea@example.com",
                             "Accepted: Pricing clinic", to=organizer, method="REPLY"), [organizer],
               mail_from="bea@example.com")
    group.send(calendar_mail(ics("outlook_reply.ics", ATTENDEE="cat@example.com", **values), "cat@example.com",
                             "Declined: Pricing clinic", to=organizer, method="REPLY"), [organizer],
               mail_from="cat@example.com")
    # A calendar server answering for Dan marks its REPLY as automatic (RFC 3834): still an answer.
    group.send(calendar_mail(ics("apple_reply.ics", ATTENDEE="dan@example.com", **values), "dan@example.com",
                             "Tentative: Pricing clinic", to=organizer, method="REPLY").replace(
                   "MIME-Version:", "Auto-Submitted: auto-generated\r\nMIME-Version:", 1), [organizer],
               mail_from="dan@example.com")
    assert "Noted: you are coming to" in text_of(sink.wait("bea@example.com", 2)[1])
    assert "Noted: you are not coming to" in text_of(sink.wait("cat@example.com", 2)[1])
    assert "Noted: you might come to" in text_of(sink.wait("dan@example.com", 2)[1])
    shown = events_json(group)[0]
    assert (shown["accepted"], shown["declined"], shown["tentative"]) == (1, 1, 1)
    assert {a["email"]: a["status"] for a in shown["attendees"]} == {
        "bea@example.com": "accepted", "cat@example.com": "declined", "dan@example.com": "tentative"}

    # One word, replying to the copy from any mail program; and changing one's mind.
    group.reply(copies["cat@example.com"], "Maybe", "cat@example.com")
    said = sink.wait("cat@example.com", 3)[2]
    assert "Changed: you now might come to" in text_of(said) and len(text_of(said).strip().splitlines()) == 1
    group.reply(copies["bea@example.com"], "no", "bea@example.com", quote=False)
    assert "Changed: you are now not coming" in text_of(sink.wait("bea@example.com", 3)[2])
    statuses = {a["email"]: a["status"] for a in events_json(group)[0]["attendees"]}
    assert statuses == {"bea@example.com": "declined", "cat@example.com": "tentative",
                        "dan@example.com": "tentative"}
    group.drained()
    # Nothing of it was posted: Ann (the author) got only the answers' absence, others no extra copy.
    assert len(sink.to("ann@example.com")) == 0
    assert len(json.loads(group.cli("topics", "mentors", "--json").output)) == 1
    assert json.loads(group.cli("topics", "mentors", "--json").output)[0]["messages"] == 1


def test_outlook_update_and_cancel_resend_with_the_same_uid(group, sink):  # noqa: ANN001
    group.send(calendar_mail(ics("outlook_request.ics"), "Bea <bea@example.com>", "Mentor meet-up"), [POST],
               mail_from="bea@example.com")
    first = calendar_of(sink.wait("ann@example.com", 1)[0]).walk("VEVENT")[0]
    assert "Europe/Berlin" in first["DTSTART"].params["TZID"]
    assert "14:00" in text_of(sink.wait("cat@example.com", 1)[0]) or "13:00" in text_of(
        sink.wait("cat@example.com", 1)[0])
    moved = ics("outlook_request.ics", SEQUENCE=1).replace("T140000", "T150000").replace("T153000", "T163000")
    group.send(calendar_mail(moved, "Bea <bea@example.com>", "Updated: Mentor meet-up"), [POST],
               mail_from="bea@example.com")
    second_mail = sink.wait("ann@example.com", 2)[1]
    second = calendar_of(second_mail).walk("VEVENT")[0]
    assert str(second["UID"]) == str(first["UID"]) and int(second["SEQUENCE"]) == 1
    assert second.decoded("DTSTART").hour == 15
    group.send(calendar_mail(ics("outlook_cancel.ics"), "Bea <bea@example.com>", "Canceled: Mentor meet-up",
                             method="CANCEL"), [POST], mail_from="bea@example.com")
    third_mail = sink.wait("ann@example.com", 3)[2]
    cancel = calendar_of(third_mail)
    assert str(cancel["METHOD"]) == "CANCEL" and str(cancel.walk("VEVENT")[0]["UID"]) == str(first["UID"])
    assert str(cancel.walk("VEVENT")[0]["STATUS"]) == "CANCELLED" and "Cancelled:" in text_of(third_mail)
    shown = events_json(group)
    assert len(shown) == 1 and shown[0]["status"] == "cancelled" and shown[0]["sequence"] == 2
    assert json.loads(group.cli("events", "mentors", "--json").output) == []  # nothing coming up
    topics = json.loads(group.cli("topics", "mentors", "--json").output)
    assert len(topics) == 1 and topics[0]["messages"] == 3  # the update and cancel joined the event's topic


def test_bad_invitations_are_posted_with_a_note_and_recurring_events_show_the_next_date(group, sink):  # noqa: ANN001
    group.send(calendar_mail(ics("no_start.ics"), "Ann <ann@example.com>", "Some time soon"), [POST])
    group.send(calendar_mail(ics("past.ics"), "Ann <ann@example.com>", "Long ago"), [POST])
    group.send(calendar_mail("BEGIN:VCALENDAR\r\nnonsense\r\n", "Ann <ann@example.com>", "Broken"), [POST])
    notes = [text_of(m) for m in sink.wait("ann@example.com", 3)]
    assert any("has no start time" in n for n in notes) and any("in the past" in n for n in notes)
    assert any("could not be read" in n for n in notes)
    copies = sink.wait("bea@example.com", 3)
    assert {str(c["Subject"]) for c in copies} == {"[mentors] Some time soon", "[mentors] Long ago", "[mentors] Broken"}
    assert events_json(group) == []
    # Not events, so ordinary copies: in a group that hides addresses, without the calendar parts
    # that name the organizer and the guests by address.
    past = next(c for c in copies if str(c["Subject"]) == "[mentors] Long ago")
    assert "You are invited." in text_of(past)
    assert not [p for p in past.walk() if p.get_content_type() in ("text/calendar", "application/ics")]
    assert b"ann@example.com" not in past.as_bytes()

    group.send(calendar_mail(ics("google_recurring.ics"), "Ann <ann@example.com>", "Office hours"), [POST])
    copy = sink.wait("bea@example.com", 4)[3]
    shown = events_json(group)[0]
    assert shown["rrule"] == "FREQ=WEEKLY;BYDAY=WE" and shown["next"] is not None
    nxt = datetime.fromisoformat(shown["next"].replace("Z", "+00:00"))
    assert nxt > datetime.now(timezone.utc) and nxt.weekday() == 2 and nxt.hour == 6  # Wed 09:00 Nairobi
    assert "Repeats (FREQ=WEEKLY;BYDAY=WE)" in text_of(copy)
    assert calendar_of(copy).walk("VEVENT")[0]["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=WE"


def test_apple_event_reminder_the_day_before_and_digest_and_events_by_mail(group, sink):  # noqa: ANN001
    group.cli("member", "set", "mentors", "cat@example.com", "--delivery", "daily")
    group.send(calendar_mail(ics("apple_request.ics"), "Cat <cat@example.com>", "Café da manhã"), [POST],
               mail_from="cat@example.com")
    copy = sink.wait("bea@example.com", 1)[0]
    assert "(Asia/Tokyo)" in text_of(copy) and "21:00" in text_of(copy)  # 09:00 in São Paulo
    group.reply(copy, "yes", "bea@example.com")
    group.reply(sink.wait("ann@example.com", 1)[0], "maybe", "ann@example.com")
    sink.wait("bea@example.com", 2)
    sink.wait("ann@example.com", 2)
    engine = make_engine(group.config.database.url)
    start = datetime(YEAR, 2, 20, 12, tzinfo=timezone.utc)
    assert queue_reminders(engine, group.config, start - timedelta(days=3)) == 0  # too early
    the_day_before = datetime(YEAR, 2, 19, 9, tzinfo=timezone.utc)
    assert queue_reminders(engine, group.config, the_day_before) == 2
    assert queue_reminders(engine, group.config, the_day_before + timedelta(hours=1)) == 0  # once
    reminder = sink.wait("bea@example.com", 3)[2]
    assert "reminder" in str(reminder["Subject"]) and "Café da manhã dos mentores" in text_of(reminder)
    sink.wait("ann@example.com", 3)
    group.drained()
    assert len(sink.to("dan@example.com")) == 1  # no answer, no reminder

    # Cat reads a daily digest: upcoming events come first.
    group.cli("digest", "send", "mentors")
    digest = text_of(sink.wait("cat@example.com", 1)[0])
    assert "== Upcoming events ==" in digest
    assert digest.index("Upcoming events") < digest.index("New topics")
    assert "Café da manhã dos mentores" in digest and "Coming? Reply yes, no or maybe" in digest

    group.send(plain_mail("dan@example.com", REQUEST, "events", ""), [REQUEST], mail_from="dan@example.com")
    listing = sink.wait("dan@example.com", 2)[1]
    assert "Café da manhã dos mentores" in text_of(listing) and "Coming: 1, maybe: 1, not coming: 0" in text_of(listing)
    assert any((p.get_filename() or "").endswith(".ics") for p in listing.walk())
    rows = group.cli("events", "mentors").output
    assert "Café da manhã dos mentores" in rows


def test_event_create_from_the_cli(group, sink):  # noqa: ANN001
    out = group.cli("event", "create", "mentors", "--title", "Demo day", "--start", f"{YEAR}-03-04T18:00",
                    "--timezone", "Europe/Lisbon", "--location", "Online", "--description", "Show your work").output
    assert "invitation(s) queued" in out
    copy = sink.wait("ann@example.com", 1)[0]
    ev = calendar_of(copy).walk("VEVENT")[0]
    assert str(ev["SUMMARY"]) == "Demo day" and str(ev["ATTENDEE"]) == "mailto:ann@example.com"
    assert events_json(group)[0]["zone"] == "Europe/Lisbon"
    bad = group.cli("event", "create", "mentors", "--title", "X", "--start", "tomorrow", ok=False)
    assert bad.exit_code == 1 and bad.output.strip().startswith("error: --start")
    past = group.cli("event", "create", "mentors", "--title", "X", "--start", "2020-01-01T10:00", ok=False)
    assert past.exit_code == 1 and "in the past" in past.output
    nobody = group.cli("events", "nobody", ok=False)
    assert nobody.exit_code == 1 and "error: no group named 'nobody'" in nobody.output


@pytest.mark.parametrize("language, word, status", [
    ("fr", "oui", "accepted"), ("es", "¡Sí!", "accepted"), ("pt", "talvez", "tentative"),
    ("ar", "لا", "declined"), ("sw", "labda", "tentative")])
def test_one_word_answers_in_each_language_and_the_answer_in_it(group, sink, language, word, status):  # noqa: ANN001
    """A member who reads in their language answers in their own word; the line back is theirs too."""
    group.cli("member", "set", "mentors", "cat@example.com", "--language", language)
    group.send(calendar_mail(ics("google_request.ics"), "Ann <ann@example.com>", "Invitation: Pricing clinic"),
               [POST])
    copy = sink.wait("cat@example.com", 1)[0]
    group.reply(copy, word, "cat@example.com")
    said = sink.wait("cat@example.com", 2)[1]
    assert said["Content-Language"] == language and "Noted" not in text_of(said)
    assert {a["email"]: a["status"] for a in events_json(group)[0]["attendees"]} == {"cat@example.com": status}
