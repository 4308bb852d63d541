"""The monthly impact report: one page for a funder or a board. The month's headline figures
beside the previous month's, a chart of posts and answered topics week by week, the topics that
drew the most replies and the questions still waiting; as a self-contained web page, as text,
and as a mail to the group's owners (each in their language), queued once a month by the
scheduler and on demand by `mailhub report`.

Gathering reads the figures once (mailhub.stats.figures); rendering is per language, the chart
(which holds no words) once per report."""
from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Optional, Sequence
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailhub.config import Config
from mailhub.db import writing
from mailhub.fanout import queue_notice
from mailhub.i18n import catalogs
from mailhub.logs import event
from mailhub.membership import owners
from mailhub.models import Group, Member, Outbox, Pair, utcnow
from mailhub.notices import group_addresses, notice_headers, reader_language, wire_bytes
from mailhub.stats.figures import Figures, History, group_zone, periods, top_topics, waiting_topics

log = logging.getLogger(__name__)

# The figures a funder reads, in this order (digest readers and stopped deliveries are the
# admin's business: `mailhub stats` has them).
HEADLINE = ("members", "joined", "left", "active_members", "posts", "topics", "replies", "answered_topics",
            "answer_rate", "median_first_reply_hours", "p90_first_reply_hours", "unanswered_topics",
            "solved_topics", "mentors_replying", "countries")
# Shown for a group that has had mentoring pairs, after the others.
PAIR_FIGURES = ("pairs", "active_pairs", "pairs_3plus_exchanges")
KINDS = {"answer_rate": "rate", "median_first_reply_hours": "hours", "p90_first_reply_hours": "hours"}  # else counts
TOP, WAITING = 5, 10  # topics listed in each part
SPARKS = "▁▂▃▄▅▆▇█"
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
FIRST_YEAR = 1971  # the first e-mail; and the month before still has a year
KEY = "report:"  # outbox keys: report:<group id>:<YYYY-MM>:<owner id>[:<when, for one sent by hand>]


class MonthError(ValueError):
    """A month a person wrote that cannot be read."""


def read_month(text: str) -> date:
    """`2026-03`: the first day of that month."""
    found = _MONTH.match(text.strip())
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise MonthError(f"'{text}' is not a month like 2026-03 (YYYY-MM)")
    if int(found.group(1)) < FIRST_YEAR:
        raise MonthError(f"'{text}' is before {FIRST_YEAR}, earlier than any mail")
    return date(int(found.group(1)), int(found.group(2)), 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def month_window(month: date, zone: Any) -> tuple[datetime, datetime]:
    """The month from its first local midnight to the next month's, in UTC."""
    return tuple(datetime.combine(day, time(), tzinfo=zone).astimezone(timezone.utc)  # type: ignore[return-value]
                 for day in (month, next_month(month)))


def sparkline(values: Sequence[int]) -> str:
    """▁ for nothing, up to █ for the largest value; any value above nothing shows above ▁."""
    top = max(values, default=0)
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[0] if v <= 0 else SPARKS[max(1, round(v / top * (len(SPARKS) - 1)))] for v in values)


@dataclass(frozen=True)
class Row:
    """One headline figure: this month's value, the previous month's and the change (None where
    a value is missing: a rate with no topics, a time with no answers)."""

    name: str
    kind: str  # count, rate (0..1, the change in percentage points) or hours
    now: Optional[float]
    before: Optional[float]

    @property
    def change(self) -> Optional[float]:
        if self.now is None or self.before is None:
            return None
        if self.kind == "rate":
            return round(self.now * 100) - round(self.before * 100)
        if self.kind == "hours":
            return round(self.now, 1) - round(self.before, 1)
        return self.now - self.before


@dataclass(frozen=True)
class Week:
    start: datetime  # local, the first is the 1st of the month
    posts: int
    answered: int


@dataclass(frozen=True)
class Report:
    """What one group's report for one month shows, in no language yet."""

    group: str
    title: str
    month: date  # its first day
    zone: ZoneInfo
    end: datetime  # the end of the month, or now for the month under way (UTC)
    partial: bool  # the month is under way: figures up to now
    now: Figures
    before: Figures
    weeks: tuple[Week, ...]
    top: tuple[tuple[str, str, int], ...]  # subject, topic key, replies in the month
    waiting: tuple[tuple[str, str, datetime, str], ...]  # subject, key, first post, its author
    has_pairs: bool = False  # the group had mentoring pairs by the end: their figures and quiet ones show
    # open pairs quiet for pairs.quiet_days or more at the end: mentor's name, mentee's, days quiet,
    # last contact (None: none yet); names "" where the group has none
    quiet_pairs: tuple[tuple[str, str, int, Optional[datetime]], ...] = ()
    quiet_days: float = 21.0

    @property
    def rows(self) -> list[Row]:
        return [Row(name, KINDS.get(name, "count"), getattr(self.now, name), getattr(self.before, name))
                for name in HEADLINE + (PAIR_FIGURES if self.has_pairs else ())]

    @property
    def label(self) -> str:
        return f"{self.month:%Y-%m}"


def gather(session: Session, config: Config, group: Group, month: date, now: Optional[datetime] = None) -> Report:
    """Group's report for `month` (its first day), as known at `now`."""
    now = now or utcnow()
    zone = group_zone(config, group)
    start, month_end = month_window(month, zone)
    before_start, _ = month_window(previous_month(month), zone)
    end = min(month_end, now)
    history = History(session, config, group, end)  # read once for both months and every week
    weeks = tuple(Week(s.astimezone(zone), f.posts, f.answered_topics)
                  for s, e in periods(zone, start, end, "week") for f in (history.figures(s, e),))
    return Report(group=group.name, title=group.title, month=month, zone=zone, end=end, partial=end < month_end,
                  now=history.figures(start, end), before=history.figures(before_start, start), weeks=weeks,
                  top=tuple(top_topics(session, group, start, end, TOP)),
                  waiting=tuple(waiting_topics(session, config, group, end, WAITING)),
                  **_pairs(session, config, group, end))


def _pairs(session: Session, config: Config, group: Group, end: datetime) -> dict[str, Any]:
    """What the report shows of the group's mentoring pairs at `end` (Report's last fields)."""
    from mailhub.pairs import pair_states, shown_name

    if session.exec(select(Pair.id).where(Pair.group_id == group.id, col(Pair.started_at) < end)).first() is None:
        return {}
    members = {m.email: m for m in session.exec(select(Member).where(Member.group_id == group.id)).all()}
    quiet = tuple((shown_name(members.get(s.pair.mentor)), shown_name(members.get(s.pair.mentee)), s.days_quiet,
                   s.last_contact) for s in pair_states(session, config, group, end) if s.quiet)
    return {"has_pairs": True, "quiet_pairs": quiet, "quiet_days": config.pairs.quiet_days}


def chart_png(report: Report) -> bytes:
    from mailhub.stats.chart import weekly_chart

    return weekly_chart([w.start.day for w in report.weeks], [w.posts for w in report.weeks],
                        [w.answered for w in report.weeks])


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _context(report: Report, language: str) -> dict[str, Any]:
    """What templates/report.txt and report.html read, with the dates written for `language`."""
    from mailhub.stats.chart import ANSWERED_COLOUR, POSTS_COLOUR

    def month_name(day: date) -> str:
        return format_skeleton("yMMMM", day, locale=language, fuzzy=True)

    return {"group": report.group, "title": report.title or report.group, "rows": report.rows,
            "month": month_name(report.month), "previous": month_name(previous_month(report.month)),
            "zone": report.zone.key, "partial": report.partial,
            "until": catalogs.local_date(report.end.astimezone(report.zone).date(), language),
            "weeks": [{"start": format_skeleton("MMMd", w.start.date(), locale=language, fuzzy=True),
                       "posts": w.posts, "answered": w.answered} for w in report.weeks],
            "posts_line": sparkline([w.posts for w in report.weeks]),
            "answered_line": sparkline([w.answered for w in report.weeks]),
            "top": [{"subject": subject, "replies": replies} for subject, _, replies in report.top],
            "waiting": [{"subject": subject, "author": author,
                         "day": catalogs.local_date(first.astimezone(report.zone).date(), language)}
                        for subject, _, first, author in report.waiting],
            "more_waiting": max(0, report.now.unanswered_topics - len(report.waiting)),
            "pairs": report.has_pairs, "quiet_days": report.quiet_days,
            "quiet_pairs": [{"mentor": mentor, "mentee": mentee, "days": days,
                             "last": catalogs.local_date(last.astimezone(report.zone).date(), language) if last else None}
                            for mentor, mentee, days, last in report.quiet_pairs],
            "colours": {"posts": POSTS_COLOUR, "answered": ANSWERED_COLOUR}}


def macros(folder: Path, language: str, html: bool) -> Any:
    """templates/report.txt's or report.html's macros in `language`."""
    env = catalogs.environment(folder, language, html=html, lstrip=True)
    return env.get_template("report.html" if html else "report.txt").module


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(config: Config, report: Report, language: str, chart_src: str) -> Rendered:
    """The report in `language`; the HTML shows the chart from `chart_src` (a data: URI for a
    page that stands alone, a cid: for a mail)."""
    context = _context(report, language)
    text = macros(config.templates, language, html=False)
    page = macros(config.templates, language, html=True)
    return Rendered(subject=" ".join(str(text.subject(context)).split()), text=str(text.body(context)),
                    html=str(page.page(context, chart_src)))


def compose(config: Config, report: Report, to: str, language: str, png: bytes, cid: str,
            rendered: Optional[Rendered] = None) -> bytes:
    """The report as a mail to `to`: multipart/alternative of the text (figures and sparklines,
    for readers without images) and a multipart/related of the HTML with the chart inline as
    `cid` (`<…@domain>`). `rendered`: the report in `language` already, showing `cid:…`."""
    domain = config.server.domain
    rendered = rendered or render(config, report, language, "cid:" + cid.strip("<>"))
    msg = EmailMessage()
    # A reply reaches the group's owners: the people who talk a report over.
    notice_headers(msg, group=report.group, domain=domain, to=to, subject=rendered.subject, language=language,
                   reply_to=group_addresses(report.group, domain)["owner_address"])
    msg.set_content(rendered.text, charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    html = msg.get_payload()[1]
    html.add_related(png, maintype="image", subtype="png", cid=cid, disposition="inline",
                     filename=f"{report.group}-{report.label}.png")
    msg["Content-Language"] = language  # after the content, whose setting clears every Content-* header
    return wire_bytes(msg, f"report {report.group} {report.label}")


Mail = tuple[str, str, bytes]  # outbox key, recipient, the mail


def monthly_key(group: Group, month: date, owner: Member) -> str:
    """The outbox key of the scheduled report of `month` to `owner`: it goes once."""
    return f"{KEY}{group.id}:{month:%Y-%m}:{owner.id}"


def owner_mails(session: Session, config: Config, group: Group, report: Report, people: Sequence[Member],
                manual: bool = False) -> list[Mail]:
    """The report as a mail to each of `people` (owners), in their language: rendered once per
    language, the chart drawn once. The scheduled one is keyed by group, month and owner; one
    sent by hand (`manual`) by the moment too, so it goes each time it is asked for, and leaves
    the scheduled one (of the whole month) to come."""
    if not people:
        return []
    png = chart_png(report)
    cid = make_msgid(idstring=f"chart-{report.label}", domain=config.server.domain)
    rendered: dict[str, Rendered] = {}
    stamp = f":{utcnow():%Y%m%dT%H%M%S.%f}" if manual else ""
    mails = []
    for owner in people:
        language = reader_language(session, config, group, owner.email)
        if language not in rendered:
            rendered[language] = render(config, report, language, "cid:" + cid.strip("<>"))
        mails.append((monthly_key(group, report.month, owner) + stamp, owner.email,
                      compose(config, report, owner.email, language, png, cid, rendered[language])))
    return mails


def queue_mails(engine: Engine, group: Group, report: Report, mails: list[Mail]) -> None:
    """Queue the mails in one write; a key already in the outbox is left as it is."""
    with writing(engine), Session(engine) as write:
        for key, to, payload in mails:
            queue_notice(write, group.id, key, to, payload)  # type: ignore[arg-type]
        write.commit()
    event(log, "report_queued", group=group.name, month=report.label, owners=len(mails))


def due_month(config: Config, group: Group, now: datetime) -> date:
    """The month before the one `now` falls in, in the group's time zone."""
    return previous_month(now.astimezone(group_zone(config, group)).date().replace(day=1))


def queue_monthly(engine: Engine, config: Config, now: Optional[datetime] = None) -> int:
    """The scheduler's job (hourly): from the 1st of a month on, in each group's time zone, queue
    last month's report to each of the group's owners who has not had it, once (by its outbox
    key, so a restart or a second process queues nothing twice). A group created after that
    month gets none, nor does one without owners. Rendering happens outside the write lock.
    Returns the mails queued."""
    if not config.report.monthly:
        return 0
    now = now or utcnow()
    queued = 0
    with Session(engine) as session:
        for group in session.exec(select(Group).order_by(col(Group.id))).all():
            month = due_month(config, group, now)
            if group.created_at >= month_window(month, group_zone(config, group))[1]:
                continue
            people = {monthly_key(group, month, o): o for o in owners(session, group)}
            if not people:
                continue
            done = set(session.exec(select(Outbox.key).where(col(Outbox.key).in_(list(people)))).all())
            due = [o for key, o in people.items() if key not in done]
            if due:
                report = gather(session, config, group, month, now)
                mails = owner_mails(session, config, group, report, due)
                queue_mails(engine, group, report, mails)
                queued += len(mails)
    return queued
