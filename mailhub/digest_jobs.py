"""Who is due a digest, and queuing it exactly once. Each member's period runs from the end of
their last recorded one to their latest scheduled moment, so a digest missed while mailhub was
down goes out once, at start-up, covering everything since. The record and the queued copy are
written together, keyed by member and period end: a restart, a double trigger or a second
process finds the record and sends nothing again."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Optional

from sqlalchemy import delete, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailhub.config import Config
from mailhub.db import insert_ignoring_duplicates, writing
from mailhub.digest import Activity, Rendered, gather, render
from mailhub.fanout import enqueue
from mailhub.logs import event
from mailhub.models import DigestIssue, DigestMark, Group, Member, utcnow
from mailhub.notices import member_language
from mailhub.schedule import digest_schedule, read_zone

log = logging.getLogger(__name__)

PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
LONGEST = timedelta(days=31)  # a member back after months gets the last month, not all of it
KEEP_MARKS = timedelta(days=90)


def member_zone(config: Config, group: Group, own: Optional[str]) -> str:
    """The member's own time zone, else the group's, else config.toml's."""
    return own or group.timezone or config.digest.timezone


def period_window(period: str, end: datetime, last_end: Optional[datetime],
                  joined: datetime) -> Optional[tuple[datetime, datetime]]:
    """The period a digest ending at `end` covers, or None when it is not due: it starts where the
    member's last digest ended, at most LONGEST ago. A first digest covers one whole period, also
    from before the member joined: a newcomer sees what the group is talking about, and everyone
    due at the same moment shares one body."""
    if end <= (last_end or joined):
        return None
    start = last_end if last_end else end - PERIODS[period]
    return max(start, end - LONGEST), end


def last_digests(session: Session, group: Group, member_id: Optional[int] = None) -> dict[int, datetime]:
    """Member id -> end of the latest period recorded for them."""
    query = select(DigestMark.member_id, func.max(DigestMark.ends_at)).where(DigestMark.group_id == group.id)
    if member_id is not None:
        query = query.where(DigestMark.member_id == member_id)
    return dict(session.exec(query.group_by(DigestMark.member_id)).all())


class Subscriber(NamedTuple):
    """What deciding a member's digest needs, read as plain columns (10,000 members a minute)."""

    id: int
    email: str
    delivery: str
    timezone: Optional[str]
    created_at: datetime
    language: Optional[str]


Window = tuple[str, datetime, datetime, str]  # period, start, end, time zone: one gathering of activity
IssueKey = tuple[str, datetime, datetime, str, str]  # and the language it is rendered in


class Due(NamedTuple):
    member: Subscriber
    period: str
    start: datetime
    end: datetime
    zone: str
    language: str

    @property
    def window(self) -> Window:
        return self.period, self.start, self.end, self.zone

    @property
    def issue(self) -> IssueKey:
        """Readers with the same window and language share one issue."""
        return *self.window, self.language


def due_members(session: Session, config: Config, group: Group, now: datetime, period: Optional[str] = None,
                manual: bool = False) -> list[Due]:
    """Digest readers of `group` whose digest is due at `now` (with `manual`, due now, whatever
    their schedule says)."""
    periods = [period] if period else list(PERIODS)
    readers = [Subscriber(*row) for row in session.exec(
        select(Member.id, Member.email, Member.delivery, Member.timezone, Member.created_at, Member.language)
        .where(Member.group_id == group.id, col(Member.delivery).in_(periods),
               col(Member.disabled_at).is_(None))).all()]
    last = last_digests(session, group)
    ends: dict[tuple[str, str], datetime] = {}  # (period, zone) -> its latest due moment
    due = []
    for reader in readers:
        zone = member_zone(config, group, reader.timezone)
        if (reader.delivery, zone) not in ends:
            schedule = digest_schedule(reader.delivery, group.digest_daily or config.digest.daily,
                                       group.digest_weekly or config.digest.weekly, zone)
            ends[reader.delivery, zone] = now if manual or schedule is None else schedule.last_due(now)
        end = ends[reader.delivery, zone]
        window = period_window(reader.delivery, end, last.get(reader.id), reader.created_at)
        if window is not None:
            due.append(Due(reader, reader.delivery, *window, zone, member_language(config, group, reader.language)))
    return due


def build(session: Session, config: Config, group: Group, due: Due, quiet_note: bool,
          activity: Optional[Activity] = None) -> Optional[Rendered]:
    """The shared body for `due`'s period in their language, or None when nothing happened (and no
    quiet note). `activity`: the period's, when already gathered for readers of another language."""
    if activity is None:
        activity = gather(session, group, due.start, due.end, config.digest)
    if activity.quiet and not quiet_note:
        return None
    return render(config.templates, group, config.server.domain, due.period, due.start, due.end,
                  read_zone(due.zone), activity, config.digest, due.language)


@dataclass
class Report:
    queued: int = 0
    quiet: int = 0


def queue_digests(engine: Engine, config: Config, now: Optional[datetime] = None, group_name: Optional[str] = None,
                  period: Optional[str] = None, manual: bool = False) -> Report:
    """Queue every digest due at `now`. Rendering happens outside the write lock (the listener's
    commits must not wait on it); the write re-checks the records, so racing runs send once."""
    now = now or utcnow()
    report = Report()
    with Session(engine) as session:
        query = select(Group).order_by(col(Group.id))
        if group_name is not None:
            query = query.where(Group.name == group_name)
        for group in session.exec(query).all():
            due = due_members(session, config, group, now, period, manual)
            if due:
                _queue_group(engine, session, config, group, due, quiet_note=group.digest_quiet and not manual,
                             report=report)
    return report


def _queue_group(engine: Engine, session: Session, config: Config, group: Group, due: list[Due],
                 quiet_note: bool, report: Report) -> None:
    activities: dict[Window, Activity] = {}
    rendered: dict[IssueKey, Optional[Rendered]] = {}
    for d in due:
        if d.issue not in rendered:
            if d.window not in activities:
                activities[d.window] = gather(session, group, d.start, d.end, config.digest)
            rendered[d.issue] = build(session, config, group, d, quiet_note, activities[d.window])
    with writing(engine), Session(engine) as write:
        taken = set(write.exec(select(DigestMark.member_id, DigestMark.ends_at).where(
            DigestMark.group_id == group.id, col(DigestMark.ends_at).in_({d.end for d in due}))).all())
        issues: dict[IssueKey, int] = {}
        marks, rows = [], []
        for d in due:
            if (d.member.id, d.end) in taken:
                continue
            key = d.issue
            body = rendered[key]
            issue_id = None
            if body is not None:
                if key not in issues:
                    issue = DigestIssue(group_id=group.id, period=d.period, starts_at=d.start, ends_at=d.end,
                                        zone=d.zone, subject=body.subject, parts=body.parts)
                    write.add(issue)
                    write.flush()
                    issues[key] = issue.id  # type: ignore[assignment]
                issue_id = issues[key]
                rows.append({"key": f"digest:{d.member.id}:{d.end.isoformat()}", "kind": "digest",
                             "digest_pk": issue_id, "member_id": d.member.id, "group_id": group.id,
                             "recipient": d.member.email})
            marks.append({"member_id": d.member.id, "group_id": group.id, "period": d.period,
                          "starts_at": d.start, "ends_at": d.end, "issue_id": issue_id, "created_at": utcnow()})
        insert_ignoring_duplicates(write, DigestMark, marks, ["member_id", "ends_at"])
        enqueue(write, rows)
        # Only the latest mark of each member matters; old ones go when new ones are written.
        oldest = min(d.end for d in due) - KEEP_MARKS
        write.execute(delete(DigestMark).where(DigestMark.group_id == group.id, col(DigestMark.ends_at) < oldest))
        write.commit()
    report.queued += len(rows)
    report.quiet += len(marks) - len(rows)
    if rows:
        event(log, "digest_run", group=group.name, count=len(rows), quiet=len(marks) - len(rows), issues=len(issues))

