"""A group's figures over a period: queries over the stored messages, topics and memberships, never
counters kept on the side, so an imported archive counts at its own dates.

Every period is half-open, from `start` (inclusive; None: from the beginning) to `end`
(exclusive), and "at the end" means just before `end`; so one period's `members` plus the next
one's `joined` minus its `left` is the next one's `members`. Definitions (docs/admin.md says the
same, for the programme's staff):

- A **post** is a published post (state `posted`, channel `post`) dated by `posted_at`: when it was
  published, for an imported archive the mail's own Date. A topic's **first post** is its earliest
  post; a topic merged into another counts as that one (its posts moved there).
- `posts`: posts in the period. `active_members`: distinct authors of those posts.
- `topics`: topics whose first post is in the period. `replies`: posts in the period that are not
  their topic's first post (so `posts` = `topics` + `replies`).
- `answered_topics`: of the period's topics, those with a post by an address other than the
  starter's before `end` (maybe after the period's start, maybe in a later part of it);
  `answer_rate` = answered_topics / topics (None when there are no topics).
- `median_first_reply_hours`, `p90_first_reply_hours`: hours from the first post to the first post
  by another address, over the period's answered topics, as nearest-rank percentiles (the value at
  rank ceil(p/100 * n) of the n sorted values: always one of the measured values; the median of an
  even count is the lower of the two middle ones). None when no topic was answered.
- `unanswered_topics`: topics started before `end` (at any time) with no post by another address
  and not marked solved before `end`.
- `solved_topics`: topics marked solved in the period (`Topic.solved_at`).
- `mentors_replying`: distinct authors of the period's replies whose role is mentor, moderator or
  owner: their current membership's role, for someone who left their role when they left.
- `members`: members at the end (current members who joined before `end`, and those who left who
  had joined before `end` and left at or after it). `joined`: joined in the period (whether or not
  they left since). `left`: left or were removed in the period.
- `countries`: distinct non-empty countries of the members at the end, trimmed and compared
  without case (`country_names` lists them).
- `digest_readers`: current members who joined before `end` and read by daily or weekly digest.
  mailhub keeps no history of delivery choices: for a past period this is today's choice of the
  members who were there then (and leaves out those who have left).
- `delivery_stopped`: current members whose delivery is stopped for bounces since before `end`.
- `pairs`: mentoring pairs open at any time in the period (started before `end`, not ended by
  `start`). `active_pairs`: pairs with at least one message passed on through their channel in
  the period. `pairs_3plus_exchanges`: pairs with 3 or more exchanges in the period, an exchange
  being a message whose writer is not the writer of the pair's message before it (an answer;
  the message before may be from before the period). See mailhub/pairs.py.

`series` cuts periods in the group's time zone: weeks start on Monday at 00:00, months on the 1st
at 00:00; the first and last periods are clipped to `start` and `end`. It reads the group's posts
once for all periods."""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal, Optional, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailhub.config import Config
from mailhub.models import DIGESTS, HELPERS, Departure, Group, Member, Message, Pair, Topic
from mailhub.names import author_name
from mailhub.pairs import pair_mail
from mailhub.schedule import read_zone

FIELDS = ("members", "joined", "left", "active_members", "posts", "topics", "replies", "answered_topics",
          "answer_rate", "median_first_reply_hours", "p90_first_reply_hours", "unanswered_topics",
          "solved_topics", "mentors_replying", "countries", "digest_readers", "delivery_stopped", "pairs", "active_pairs",
          "pairs_3plus_exchanges")
By = Literal["week", "month"]
_NEVER = float("inf")


@dataclass(frozen=True)
class Figures:
    """One group's figures for [start, end); see the module's docstring for each."""

    group: str
    start: Optional[datetime]  # None: from the beginning
    end: datetime
    members: int
    joined: int
    left: int
    active_members: int
    posts: int
    topics: int
    replies: int
    answered_topics: int
    answer_rate: Optional[float]  # 0..1; None when no topic started
    median_first_reply_hours: Optional[float]  # None when no topic was answered
    p90_first_reply_hours: Optional[float]
    unanswered_topics: int
    solved_topics: int
    mentors_replying: int
    countries: int
    digest_readers: int
    delivery_stopped: int
    pairs: int
    active_pairs: int
    pairs_3plus_exchanges: int
    country_names: tuple[str, ...] = ()  # the countries counted, sorted

    def as_dict(self) -> dict[str, Any]:
        """The figures by their FIELDS names, in that order (without group and dates)."""
        return {name: getattr(self, name) for name in FIELDS}


def nearest_rank(values: Sequence[float], percent: int) -> Optional[float]:
    """The nearest-rank percentile: the value at rank ceil(percent/100 * n) of the sorted values
    (the smallest value that at least `percent`% of them are at most). None for no values."""
    if not 0 < percent <= 100:
        raise ValueError(f"a percentile is between 1 and 100, not {percent}")
    if not values:
        return None
    ordered = sorted(values)
    rank = -(-percent * len(ordered) // 100)  # ceil, in integers
    return ordered[rank - 1]


def group_zone(config: Config, group: Group) -> ZoneInfo:
    """The group's time zone, else the [digest] one of config.toml."""
    return read_zone(group.timezone or config.digest.timezone)


def period_start(moment: datetime, zone: ZoneInfo, by: By) -> datetime:
    """The local 00:00 that starts the week (Monday) or month holding `moment`."""
    day = moment.astimezone(zone).date()
    day = day - timedelta(days=day.weekday()) if by == "week" else day.replace(day=1)
    return datetime.combine(day, time(), tzinfo=zone)


def _next_day(day: date, by: By) -> date:
    if by == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def periods(zone: ZoneInfo, start: datetime, end: datetime, by: By) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into weeks or months of `zone` (local times), the first and last clipped;
    one period at least."""
    cut = period_start(start, zone, by)
    found = []
    while True:
        following = datetime.combine(_next_day(cut.date(), by), time(), tzinfo=zone)
        found.append((max(cut, start), min(following, end)))
        if following >= end:
            return found
        cut = following


def _seconds(moment: Optional[datetime]) -> float:
    return moment.timestamp() if moment is not None else _NEVER


def _published(group: Group) -> tuple[Any, ...]:
    return (Message.group_id == group.id, Message.state == "posted", Message.channel == "post",
            col(Message.topic_id).is_not(None), col(Message.posted_at).is_not(None))


@dataclass
class _Person:
    email: str
    role: str
    country: str
    joined: float
    left: float  # _NEVER for current members
    delivery: str = ""
    stopped: float = _NEVER  # delivery stopped for bounces since


class History:
    """What the figures need of one group up to `until`, read once: each post's time, author and
    whether it started its topic; each topic's start, starter and first answer; the solved marks;
    who was a member when. Times are POSIX seconds."""

    def __init__(self, session: Session, config: Config, group: Group, until: datetime) -> None:
        self.group = group
        self.zone = group_zone(config, group)
        self.until = until.timestamp()
        rows = session.exec(select(Message.topic_id, Message.from_addr, Message.posted_at)
                            .where(*_published(group), col(Message.posted_at) < until)
                            .order_by(col(Message.posted_at), col(Message.id))).all()
        self.times: list[float] = []
        self.authors: list[str] = []
        self.opens: list[bool] = []  # the post is its topic's first
        # topic id -> [first post, starter, first post by someone else (or _NEVER)]
        self.topics: dict[int, list[Any]] = {}
        for topic_id, author, at in rows:
            seconds = at.timestamp()
            self.times.append(seconds)
            self.authors.append(author)
            topic = self.topics.get(topic_id)
            if topic is None:
                self.topics[topic_id] = [seconds, author, _NEVER]
                self.opens.append(True)
            else:
                self.opens.append(False)
                if topic[2] == _NEVER and author != topic[1]:
                    topic[2] = seconds
        self.starts = sorted((first, topic_id) for topic_id, (first, _, _) in self.topics.items())
        self.start_times = [first for first, _ in self.starts]
        self.solved = {topic_id: at.timestamp() for topic_id, at in session.exec(
            select(Topic.id, Topic.solved_at).where(Topic.group_id == group.id, col(Topic.merged_into).is_(None),
                                                    col(Topic.solved_at).is_not(None))).all()}
        self.people = [_Person(email, role, country, _seconds(joined), _NEVER, delivery, _seconds(stopped))
                       for email, role, country, joined, delivery, stopped in session.exec(
                           select(Member.email, Member.role, Member.country, Member.created_at, Member.delivery,
                                  Member.disabled_at).where(Member.group_id == group.id)).all()]
        current = {p.email for p in self.people}
        self.roles = {p.email: p.role for p in self.people}
        for email, role, country, joined, left in session.exec(
                select(Departure.email, Departure.role, Departure.country, Departure.joined_at, Departure.left_at)
                .where(Departure.group_id == group.id).order_by(col(Departure.left_at))).all():
            self.people.append(_Person(email, role, country, _seconds(joined), _seconds(left)))
            if email not in current:
                self.roles[email] = role  # the latest departure's
        # each pair: (started, ended or _NEVER); its mail: (when, answer: not the writer before)
        self.pairs = {pair_id: (_seconds(started), _seconds(ended)) for pair_id, started, ended in session.exec(
            select(Pair.id, Pair.started_at, Pair.ended_at).where(Pair.group_id == group.id)).all()}
        self.pair_mail: dict[int, list[tuple[float, bool]]] = {}
        for pair_id, mail in pair_mail(session, group.id, until).items():
            writers = [writer for _, writer in mail]
            self.pair_mail[pair_id] = [(at.timestamp(), i > 0 and writers[i - 1] != writer)
                                       for i, (at, writer) in enumerate(mail)]

    def first_event(self) -> Optional[datetime]:
        """The first post or join before `until`, if any."""
        firsts = ([self.times[0]] if self.times else []) + [p.joined for p in self.people if p.joined < self.until]
        return datetime.fromtimestamp(min(firsts), timezone.utc) if firsts else None

    def waiting(self, at: float) -> list[tuple[float, int]]:
        """(first post, topic id) of the topics started before `at` with no post by another address
        and not solved before it, oldest first."""
        return [(first, topic_id) for first, topic_id in self.starts[:bisect_left(self.start_times, at)]
                if self.topics[topic_id][2] >= at and self.solved.get(topic_id, _NEVER) >= at]

    def figures(self, start: Optional[datetime], end: datetime) -> Figures:
        low, high = _seconds(start) if start is not None else -_NEVER, end.timestamp()
        first, last = bisect_left(self.times, low), bisect_left(self.times, high)
        authors, opens = self.authors[first:last], self.opens[first:last]
        repliers = {a for a, opened in zip(authors, opens) if not opened}
        started = self.starts[bisect_left(self.start_times, low):bisect_left(self.start_times, high)]
        waits = [(self.topics[t][2] - at) / 3600 for at, t in started if self.topics[t][2] < high]
        present = [p for p in self.people if p.joined < high <= p.left]
        countries: dict[str, set[str]] = {}
        for p in present:
            if p.country.strip():
                countries.setdefault(p.country.strip().casefold(), set()).add(p.country.strip())
        return Figures(
            group=self.group.name, start=start, end=end,
            members=len(present),
            joined=sum(1 for p in self.people if low <= p.joined < high),
            left=sum(1 for p in self.people if low <= p.left < high),
            active_members=len(set(authors)),
            posts=len(authors),
            topics=len(started),
            replies=len(authors) - sum(opens),
            answered_topics=len(waits),
            answer_rate=len(waits) / len(started) if started else None,
            median_first_reply_hours=nearest_rank(waits, 50),
            p90_first_reply_hours=nearest_rank(waits, 90),
            unanswered_topics=len(self.waiting(high)),
            solved_topics=sum(1 for at in self.solved.values() if low <= at < high),
            mentors_replying=sum(1 for a in repliers if self.roles.get(a) in HELPERS),
            countries=len(countries),
            digest_readers=sum(1 for p in present if p.left == _NEVER and p.delivery in DIGESTS),
            delivery_stopped=sum(1 for p in present if p.left == _NEVER and p.stopped < high),
            pairs=sum(1 for started, ended in self.pairs.values() if started < high and ended > low),
            active_pairs=sum(1 for mail in self.pair_mail.values() if any(low <= at < high for at, _ in mail)),
            pairs_3plus_exchanges=sum(1 for mail in self.pair_mail.values()
                                      if sum(1 for at, answer in mail if answer and low <= at < high) >= 3),
            country_names=tuple(sorted((min(names) for names in countries.values()), key=str.casefold)),
        )


def group_figures(session: Session, config: Config, group: Group, start: Optional[datetime],
                  end: datetime) -> Figures:
    """The group's figures for [start, end); `start` None: from the beginning."""
    return History(session, config, group, end).figures(start, end)


def series(session: Session, config: Config, group: Group, start: Optional[datetime], end: datetime,
           by: By) -> list[Figures]:
    """The figures of each week or month of [start, end) in the group's time zone, oldest first.
    `start` None: from the period of the group's first post or member (this one period when it
    has neither)."""
    history = History(session, config, group, end)
    begin = start or history.first_event() or period_start(end, history.zone, by)
    return [history.figures(s, e) for s, e in periods(history.zone, min(begin, end), end, by)]


def top_topics(session: Session, group: Group, start: Optional[datetime], end: datetime,
               n: int) -> list[tuple[str, str, int]]:
    """(subject, key, replies in the period) of the `n` topics that drew the most replies in
    [start, end), most first (ties: the older topic first); topics with none are left out."""
    in_period = select(Message.topic_id, func.count()).where(*_published(group), col(Message.posted_at) < end)
    if start is not None:
        in_period = in_period.where(col(Message.posted_at) >= start)
    counts = dict(session.exec(in_period.group_by(Message.topic_id)).all())
    if not counts:
        return []
    firsts = session.exec(select(Message.topic_id, func.min(Message.posted_at))
                          .where(*_published(group), col(Message.topic_id).in_(list(counts)))
                          .group_by(Message.topic_id)).all()
    started: dict[int, datetime] = {}
    for topic_id, first in firsts:
        started[topic_id] = first
        if (start is None or first >= start) and first < end:
            counts[topic_id] -= 1  # its first post is no reply
    ranked = sorted((-replies, started[topic_id], topic_id) for topic_id, replies in counts.items() if replies > 0)
    ids = [topic_id for _, _, topic_id in ranked[:n]]
    topics = {t.id: t for t in session.exec(select(Topic).where(col(Topic.id).in_(ids)))}
    return [(topics[t].subject, topics[t].key, counts[t]) for t in ids if t in topics]


def waiting_topics(session: Session, config: Config, group: Group, at: datetime,
                   n: int) -> list[tuple[str, str, datetime, str]]:
    """(subject, key, first post's time, its author's name) of the `n` oldest topics still waiting
    at `at` for a first post by someone other than their starter, and not marked solved."""
    waiting = History(session, config, group, at).waiting(at.timestamp())[:n]
    if not waiting:
        return []
    ids = [topic_id for _, topic_id in waiting]
    topics = {t.id: t for t in session.exec(select(Topic).where(col(Topic.id).in_(ids),
                                                                col(Topic.merged_into).is_(None)))}
    authors: dict[int, str] = {}
    for topic_id, name, address in session.exec(
            select(Message.topic_id, Message.from_name, Message.from_addr)
            .where(*_published(group), col(Message.topic_id).in_(ids), col(Message.posted_at) < at)
            .order_by(col(Message.posted_at).desc(), col(Message.id).desc())).all():
        authors[topic_id] = author_name(name, "", address)  # the last one written is the first post's
    return [(topics[t].subject, topics[t].key, datetime.fromtimestamp(first, timezone.utc), authors.get(t, ""))
            for first, t in waiting if t in topics]
