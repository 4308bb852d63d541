"""`mailhub events GROUP` and `mailhub event create`: a group's events and who answered."""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from mailhub.cli.common import ConfigOpt, JsonOpt, fail, find_group, one_line, opened, print_rows, when
from mailhub.cli.conventions import Typer

event_app = Typer(help="Create an event: an invitation to every member.")


def events(group: str, as_json: JsonOpt = False,
           every: Annotated[bool, typer.Option("--all", help="past and cancelled events too")] = False,
           config: ConfigOpt = None) -> None:
    """A group's events, next first, with how many said yes, maybe and no; --json names each
    attendee's email and status (accepted, declined, tentative)."""
    from sqlmodel import col, select

    from mailhub.events.record import answers, aware, counts
    from mailhub.events.ical import next_start
    from mailhub.models import Event, Topic, utcnow

    with opened(config) as (_, session):
        g = find_group(session, group)
        now = utcnow()
        rows = []
        for e in session.exec(select(Event).where(Event.group_id == g.id).order_by(col(Event.starts_at))).all():
            upcoming = next_start(aware(e.starts_at), e.rrule, e.zone, now)
            if not every and (upcoming is None or e.status == "cancelled"):
                continue
            topic = session.get(Topic, e.topic_id) if e.topic_id else None
            n = counts(session, e.id)
            rows.append({"id": e.id, "uid": e.uid, "title": e.title, "start": when(aware(e.starts_at)),
                         "next": when(upcoming), "end": when(aware(e.ends_at)), "zone": e.zone,
                         "location": e.location, "organizer": e.organizer, "rrule": e.rrule or None,
                         "status": e.status, "sequence": e.sequence, "topic": topic.key if topic else None,
                         "accepted": n["accepted"], "tentative": n["tentative"], "declined": n["declined"],
                         "attendees": [{"email": a.email, "status": a.status, "answered": when(aware(a.answered_at))}
                                       for a in answers(session, e.id)]})
    rows.sort(key=lambda r: r["next"] or r["start"])
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    print_rows(rows, False, ["id", "next", "accepted", "tentative", "declined", "status", "title"],
               f"{g.name} has no events coming up")


def _moment(text: str, zone: str, what: str):  # noqa: ANN202
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"{what}: '{text}' is not a date and time like 2027-03-04T18:00")
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))


@event_app.command("create", short_help="Send an invitation to every member of a group.")
def create(
    group: str,
    title: Annotated[str, typer.Option(help="what it is called")],
    start: Annotated[str, typer.Option(help="when it starts, e.g. 2027-03-04T18:00 (in --timezone)")],
    end: Annotated[Optional[str], typer.Option(help="when it ends; default: an hour after the start")] = None,
    timezone: Annotated[Optional[str], typer.Option(help="the IANA zone of the times, e.g. Europe/Berlin; "
                                                         "default: the group's")] = None,
    location: Annotated[str, typer.Option(help="where: an address or a meeting link")] = "",
    description: Annotated[str, typer.Option(help="what members should know")] = "",
    config: ConfigOpt = None,
) -> None:
    """Post an event to GROUP from the group itself: every member gets an invitation their calendar
    app can add and answer, and may reply yes, no or maybe."""
    import email.utils
    import uuid
    from datetime import timedelta
    from email.message import EmailMessage

    from mailhub.events.ical import write_calendar
    from mailhub.events.publish import post_event
    from mailhub.models import utcnow
    from mailhub.router import address_for
    from mailhub.schedule import ScheduleError, read_zone

    title = one_line(title, "--title")
    location = one_line(location, "--location")
    if not title:
        fail("--title must not be empty")
    with opened(config) as (cfg, session):
        g = find_group(session, group)
        try:
            zone = read_zone(timezone or g.timezone or cfg.digest.timezone).key
        except ScheduleError as exc:
            fail(f"--timezone: {exc}")
        starts = _moment(start, zone, "--start")
        ends = _moment(end, zone, "--end") if end else starts + timedelta(hours=1)
        if ends <= starts:
            fail("--end must be after --start")
        if starts <= utcnow():
            fail(f"--start {start} is in the past")
        domain = cfg.server.domain
        organizer = address_for(g.name, domain, "owner")
        calendar = write_calendar("REQUEST", uid=f"{uuid.uuid4()}@{domain}", sequence=0, title=title, start=starts,
                                  end=ends, zone=zone, all_day=False, location=location, description=description,
                                  organizer=organizer, organizer_name=g.title or g.name)
        mail = EmailMessage()
        mail["From"] = email.utils.formataddr((g.title or g.name, organizer))
        mail["To"] = address_for(g.name, domain)
        mail["Subject"] = title
        mail["Date"] = email.utils.formatdate(localtime=False)
        mail["Message-ID"] = email.utils.make_msgid(domain=domain)
        mail.set_content(description or title, charset="utf-8")
        mail.add_alternative(calendar.decode("utf-8"), subtype="calendar", params={"method": "REQUEST"})
        message_id, queued, event_id = post_event(session, cfg, g, mail.as_bytes())
    typer.echo(f"event {event_id} posted to {g.name} as message {message_id}: {queued} invitation(s) queued")
