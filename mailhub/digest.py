"""A digest: what a group did in one period. `gather` reads the period's activity, `render`
turns it into the shared body (once per group, period, time zone and language, however many
readers share it), and `compose` assembles one reader's mail from it at send time, in the
language of that body."""
from __future__ import annotations

import base64
import binascii
import email.utils
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from mailhub.compose import header_value, unsubscribe_headers
from mailhub.config import DigestConfig
from mailhub.i18n import catalogs
from mailhub.i18n.languages import DEFAULT
from mailhub.membership import NAME_LIMIT
from mailhub.models import HELPERS, Group, Member, Message, Topic
from mailhub.names import author_name, without_addresses
from mailhub.router import address_for, digest_message_id, list_id
from mailhub.store import IMPORTED
from mailhub.wire import qp_is_smaller, short_lines

# Section order: people who can help see the unanswered topics first, everyone else the news.
# Upcoming events lead for everyone (mailhub/events).
SECTIONS_FOR_HELPERS = ("events", "unanswered", "new", "active", "members", "overflow")
SECTIONS_FOR_READERS = ("events", "new", "active", "unanswered", "members", "overflow")
UNANSWERED_DAYS = 14  # an unanswered topic older than this is no longer asked about


class Post(NamedTuple):
    author: str
    when: datetime  # shown in the reader's time zone and language
    excerpt: str


@dataclass(frozen=True)
class TopicActivity:
    id: int
    key: str
    subject: str
    started_by: str
    total: int  # messages in the topic, old ones included
    posts: tuple[Post, ...]  # the ones new in this period, oldest first
    new: bool  # started in this period
    first: datetime  # the topic's first published message: when it was started
    last: datetime  # its latest new one
    solved: bool = False  # marked solved by the end of the period


class NewMember(NamedTuple):
    name: str
    organisation: str
    country: str


@dataclass(frozen=True)
class Activity:
    topics: list[TopicActivity]  # new and active, new ones first
    unanswered: list[TopicActivity]
    members: list[NewMember]
    replies: int  # new messages that answer a topic
    new_topics: int
    events: list = field(default_factory=list)  # mailhub.events.record.UpcomingEvent, soonest first

    @property
    def quiet(self) -> bool:
        """No new messages: new members alone are no reason to send a digest."""
        return self.new_topics + self.replies == 0


# ---- reading the period ------------------------------------------------------------------------

def excerpt(text: str, limit: int) -> str:
    """The start of what the author wrote, on one line, cut at a word."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] if " " in flat[:limit] else flat[:limit]
    return cut.rstrip(".,;:") + " …"


def gather(session: Session, group: Group, start: datetime, end: datetime, settings: DigestConfig) -> Activity:
    """The messages published in (start, end], their topics, the topics still unanswered at
    `end`, and the members who joined. Mail imported from an archive was news where it was first
    published: it counts towards its topic (size, start) but is never shown as new. Times stay
    moments: `render` shows them in a language. Where the group hides addresses, an author without
    a name is "" (the templates say "a member") and no name carries an address."""
    hidden = group.addresses == "hidden"

    def author(name: str, address: str) -> str:
        return author_name(name, "", address, hidden)  # name: as processing stored it

    rows = session.exec(
        select(Message.topic_id, Message.from_name, Message.from_addr, Message.posted_at,
               func.substr(Message.new_text, 1, settings.excerpt_chars * 4))
        .where(Message.group_id == group.id, Message.state == "posted", col(Message.topic_id).is_not(None),
               Message.reason != IMPORTED, col(Message.posted_at) > start, col(Message.posted_at) <= end)
        .order_by(col(Message.posted_at), col(Message.id))).all()
    posts: dict[int, list[tuple[Post, datetime]]] = {}
    for topic_id, name, address, at, text in rows:
        posts.setdefault(topic_id, []).append(
            (Post(author(name, address), at, excerpt(text or "", settings.excerpt_chars)), at))
    topics = {t.id: t for t in session.exec(select(Topic).where(col(Topic.id).in_(list(posts))))}
    firsts = dict(session.exec(
        select(Message.topic_id, func.min(Message.posted_at)).where(col(Message.topic_id).in_(list(posts)),
                                                                   Message.state == "posted")
        .group_by(Message.topic_id)).all()) if posts else {}
    starters = _starters(session, list(posts))

    def activity(topic: Topic, shown: list[tuple[Post, datetime]], first: datetime) -> TopicActivity:
        by = starters.get(topic.id, ("", ""))
        return TopicActivity(topic.id, topic.key, topic.subject, author(*by), topic.message_count,
                             tuple(p for p, _ in shown), first > start, first,
                             max((at for _, at in shown), default=first), _solved_by(topic, end))

    found = [activity(topics[t], shown, firsts.get(t) or shown[0][1])
             for t, shown in posts.items() if t in topics]
    waiting = _unanswered(session, group, end, settings)
    unanswered_ids = {t for t, _ in waiting}
    unanswered = []
    for topic_id, first in waiting:
        topic = session.get(Topic, topic_id)
        if topic is None:
            continue
        shown = posts.get(topic_id) or [_only_post(session, topic_id, settings, hidden)]
        unanswered.append(activity(topic, shown, first))
    found = [t for t in found if t.id not in unanswered_ids]
    new = sorted((t for t in found if t.new), key=lambda t: t.first)
    active = sorted((t for t in found if not t.new), key=lambda t: t.last, reverse=True)
    members = session.exec(select(Member.name, Member.organisation, Member.country)
                           .where(Member.group_id == group.id, col(Member.created_at) > start,
                                  col(Member.created_at) <= end).order_by(col(Member.created_at))).all()
    new_count = sum(1 for t in found if t.new) + sum(1 for t in unanswered if t.new)
    joined = [NewMember(without_addresses(n) if hidden else n, o, c) for n, o, c in members]
    from mailhub.events.record import upcoming_events  # events import the digest's neighbours

    return Activity(topics=new + active, unanswered=unanswered, members=joined, replies=len(rows) - new_count,
                    events=upcoming_events(session, group.id, end),
                    new_topics=new_count)



def _starters(session: Session, topic_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Who wrote the first published message of each topic."""
    if not topic_ids:
        return {}
    first = (select(func.min(Message.id)).where(col(Message.topic_id).in_(topic_ids), Message.state == "posted")
             .group_by(Message.topic_id))
    rows = session.exec(select(Message.topic_id, Message.from_name, Message.from_addr)
                        .where(col(Message.id).in_(first))).all()
    return {t: (name, address) for t, name, address in rows}


def _solved_by(topic: Topic, end: datetime) -> bool:
    if topic.solved_at is None:
        return False
    solved = topic.solved_at if topic.solved_at.tzinfo else topic.solved_at.replace(tzinfo=timezone.utc)
    return solved <= end


def _unanswered(session: Session, group: Group, end: datetime,
                settings: DigestConfig) -> list[tuple[int, datetime]]:
    """Topics whose one message has waited at least `unanswered_hours` for a reply (and less
    than UNANSWERED_DAYS), oldest first; not those whose starter said they are solved."""
    rows = session.exec(
        select(Topic.id, Message.posted_at).join(Message, col(Message.topic_id) == Topic.id)
        .where(Topic.group_id == group.id, Topic.message_count == 1, col(Topic.merged_into).is_(None),
               or_(col(Topic.solved_at).is_(None), col(Topic.solved_at) > end),
               Message.state == "posted", Message.reason != IMPORTED,
               col(Message.posted_at) <= end - timedelta(hours=settings.unanswered_hours),
               col(Message.posted_at) > end - timedelta(days=UNANSWERED_DAYS))
        .order_by(col(Message.posted_at))).all()
    return [(t, at) for t, at in rows]


def _only_post(session: Session, topic_id: int, settings: DigestConfig, hidden: bool) -> tuple[Post, datetime]:
    name, address, at, text = session.exec(
        select(Message.from_name, Message.from_addr, Message.posted_at, Message.new_text)
        .where(Message.topic_id == topic_id, Message.state == "posted")).one()
    return Post(author_name(name, "", address, hidden), at, excerpt(text, settings.excerpt_chars)), at


# ---- rendering the shared body -----------------------------------------------------------------

def macros(folder: Path, html: bool, language: str = DEFAULT) -> Any:
    """The macros of templates/digest.txt or digest.html in `language`, callable from here."""
    env = catalogs.environment(folder, language, html=html, lstrip=True)
    return env.get_template("digest.html" if html else "digest.txt").module


def language_of(info: dict[str, Any]) -> str:
    """The language an issue was rendered in (issues stored before there was a choice: English)."""
    return info.get("language") or DEFAULT


Piece = tuple[Optional[int], str, str]  # topic id (None for headings and lists), text, html


Size = tuple[int, int]  # bytes of text, bytes of HTML
LIST_SHARE = 3  # topics in full keep up to a third of the budget for listing the rest by subject


def _plus(a: Size, b: Size) -> Size:
    return a[0] + b[0], a[1] + b[1]


def _within(size: Size, room: Size) -> bool:
    return size[0] <= room[0] and size[1] <= room[1]


def fit(blocks: list[Size], lines: list[Size], room: Size) -> tuple[int, int]:
    """How many topics, in order, go in full (`blocks`), and how many of the rest are listed by
    subject (`lines`) within `room`; any after those are only counted."""
    rest = [(0, 0)] * (len(blocks) + 1)  # rest[i]: the lines of topics i and after
    for i in range(len(blocks) - 1, -1, -1):
        rest[i] = _plus(rest[i + 1], lines[i])
    share = (room[0] // LIST_SHARE, room[1] // LIST_SHARE)
    used, full = (0, 0), 0
    while full < len(blocks):
        keep = (min(rest[full + 1][0], share[0]), min(rest[full + 1][1], share[1]))
        if not _within(_plus(_plus(used, blocks[full]), keep), room):
            break
        used, full = _plus(used, blocks[full]), full + 1
    listed = 0
    while full + listed < len(blocks) and _within(_plus(used, lines[full + listed]), room):
        used, listed = _plus(used, lines[full + listed]), listed + 1
    return full, listed


def _size(*pieces: Piece) -> Size:
    return sum(len(p[1].encode()) for p in pieces), sum(len(p[2].encode()) for p in pieces)


@dataclass(frozen=True)
class Rendered:
    subject: str
    parts: dict[str, Any] = field(default_factory=dict)


def render(folder: Path, group: Group, domain: str, period: str, start: datetime, end: datetime,
           zone: ZoneInfo, activity: Activity, settings: DigestConfig, language: str = DEFAULT) -> Rendered:
    """The shared body in `language`, kept within the text and HTML budgets: topics that do not
    fit are listed by subject with how to get them."""
    text, html = macros(folder, False, language), macros(folder, True, language)
    info = {"group": group.name, "title": group.title, "domain": domain, "period": period, "language": language,
            "since": catalogs.local_time(start, zone, language), "until": catalogs.local_time(end, zone, language),
            "zone": zone.key,
            "new_topics": activity.new_topics, "replies": activity.replies, "members": len(activity.members),
            "unanswered": len(activity.unanswered), "prefix": group.prefix,
            "post_address": address_for(group.name, domain), "request_address": address_for(group.name, domain,
                                                                                             "request"),
            "private_copy": group.private_copy}

    def piece(name: str, *args: Any, topic: Optional[int] = None) -> Piece:
        # Each piece ends in a line break, so that pieces encoded apart can be joined (see _qp).
        return topic, *(_line_ended(str(getattr(m, name)(*args, info))) for m in (text, html))

    def heading(section: str) -> Piece:
        return piece("heading", section)

    summary = piece("summary")
    sections: dict[str, list[Piece]] = {}
    if activity.members:
        sections["members"] = [heading("members"), piece("members", activity.members)]
    if activity.events:
        sections["events"] = [heading("events"), piece("events", [
            {**e._asdict(), "address": address_for(group.name, domain, token=e.key)} for e in activity.events], zone)]
    everything = [("unanswered", t) for t in activity.unanswered] + [("new" if t.new else "active", t)
                                                                     for t in activity.topics]
    blocks = [piece("topic", t, address_for(group.name, domain, token=t.key), zone, topic=t.id)
              for _, t in everything]
    lines = [piece("overflow_line", t, topic=t.id) for _, t in everything]
    frame = _size(summary, *(p for s in sections.values() for p in s), piece("overflow_intro"),
                  piece("overflow_more", len(everything)),
                  *(heading(s) for s in ("unanswered", "new", "active", "overflow")))
    personal = _personal_size(folder, info)
    room = (settings.text_budget - frame[0] - personal[0], settings.html_budget - frame[1] - personal[1])
    full, listed = fit([_size(b) for b in blocks], [_size(line) for line in lines], room)
    for section in ("unanswered", "new", "active"):
        chosen = [b for (s, _), b in zip(everything[:full], blocks) if s == section]
        if chosen:
            sections[section] = [heading(section), *chosen]
    if full < len(everything):
        unlisted = len(everything) - full - listed
        sections["overflow"] = [heading("overflow"), piece("overflow_intro"), *lines[full:full + listed],
                                *([piece("overflow_more", unlisted)] if unlisted else [])]
    subject = str(text.subject(info)).strip()
    return Rendered(subject, {"info": info, "summary": list(summary),
                              "sections": {k: [list(p) for p in v] for k, v in sections.items()}})


# ---- one reader's mail -------------------------------------------------------------------------

class Reader(NamedTuple):
    member_id: int
    email: str
    name: str
    role: str
    token: str
    plain: bool
    language: str = DEFAULT  # theirs, else their group's, else the site's (deliver.recipients)


def _ordered(summary: Any, sections: dict[str, list[Any]], role: str, muted: frozenset[int]) -> list[Any]:
    """The pieces one reader gets: the summary, then the sections in the order for their role,
    without the topics they muted."""
    order = SECTIONS_FOR_HELPERS if role in HELPERS else SECTIONS_FOR_READERS
    return [summary] + [p for s in order for p in sections.get(s, []) if p[0] not in muted]


def _line_ended(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _personal(folder: Path, info: dict[str, Any], reader: Reader, html: bool) -> tuple[str, str]:
    """The reader's greeting and footer (with their own leave address), in the issue's language."""
    m = macros(folder, html, language_of(info))
    leave = address_for(info["group"], info["domain"], "leave", reader.token)
    return _line_ended(str(m.greeting(reader.name, info))), str(m.footer(leave, info))


def _personal_size(folder: Path, info: dict[str, Any]) -> Size:
    """The most a reader's greeting and footer can add: the longest name, a member token."""
    longest = Reader(0, "", "W" * NAME_LIMIT, "member", "t" * 32, False)
    text, html = (_personal(folder, info, longest, is_html) for is_html in (False, True))
    return len("".join(text).encode()), len("".join(html).encode())


def bodies(folder: Path, parts: dict[str, Any], reader: Reader, muted: frozenset[int]) -> tuple[str, str]:
    """The reader's text and HTML, as `compose` sends them (decoded)."""
    chosen = _ordered(parts["summary"], parts["sections"], reader.role, muted)
    out = []
    for html, index in ((False, 1), (True, 2)):
        greeting, footer = _personal(folder, parts["info"], reader, html)
        out.append(greeting + "".join(p[index] for p in chosen) + footer)
    return out[0], out[1]


def _qp(text: str) -> bytes:
    """Quoted-printable works line by line, so pieces that end in a line break can be encoded
    once and joined: the shared body is encoded once per issue, not once per reader."""
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


@dataclass(frozen=True)
class Prepared:
    """An issue's shared pieces, transfer-encoded once for all its readers: quoted-printable, or
    (`qp` False, for text mostly in a non-Latin script) UTF-8 to be base64-encoded whole."""

    info: dict[str, Any]
    qp: bool
    summary: tuple[None, bytes, bytes]
    sections: dict[str, list[tuple[Optional[int], bytes, bytes]]]


def prepare(parts: dict[str, Any]) -> Prepared:
    pieces = [parts["summary"], *(p for section in parts["sections"].values() for p in section)]
    qp = qp_is_smaller("".join(p[1] + p[2] for p in pieces).encode("utf-8"))

    def encode(piece: list[Any]) -> tuple[Any, bytes, bytes]:
        if qp:
            return piece[0], _qp(piece[1]), _qp(piece[2])
        return piece[0], piece[1].encode("utf-8"), piece[2].encode("utf-8")

    return Prepared(parts["info"], qp, encode(parts["summary"]),
                    {name: [encode(p) for p in section] for name, section in parts["sections"].items()})


def _part(content_type: str, prepared: Prepared, personal: tuple[str, str], pieces: list[bytes]) -> bytes:
    greeting, footer = personal
    if prepared.qp:
        encoding, data = "quoted-printable", _qp(greeting) + b"".join(pieces) + _qp(footer)
    else:
        whole = greeting.encode("utf-8") + b"".join(pieces) + footer.encode("utf-8")
        encoding, data = "base64", base64.encodebytes(whole).replace(b"\n", b"\r\n")
    return (f"Content-Type: {content_type}; charset=\"utf-8\"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n"
            .encode() + data)


def compose(folder: Path, issue_id: int, subject: str, prepared: Prepared, reader: Reader,
            muted: frozenset[int] = frozenset(), unsubscribe_link: Optional[str] = None) -> bytes:
    """The reader's digest as sent: text/plain first in multipart/alternative (text only for
    members who asked for plain mail). `unsubscribe_link`: their one-click link, with [web]."""
    info = prepared.info
    group, domain, language = info["group"], info["domain"], language_of(info)
    chosen = _ordered(prepared.summary, prepared.sections, reader.role, muted)
    sender = str(macros(folder, False, language).sender(info))
    headers = [
        ("From", email.utils.formataddr((sender, address_for(group, domain, "request")))),
        ("To", reader.email),
        ("Subject", header_value(subject)),
        ("Content-Language", language),
        ("Date", email.utils.formatdate(localtime=False)),
        ("Message-ID", f"<{digest_message_id(issue_id, reader.member_id, domain)}>"),
        # A reply to the digest as a whole reaches the request address, never the group: it
        # would start a topic called "Re: Weekly digest". The topic links are how to answer.
        ("Reply-To", address_for(group, domain, "request")),
        ("List-Id", f"<{list_id(group, domain)}>"),
        ("List-Post", f"<mailto:{address_for(group, domain)}>"),
        ("List-Help", f"<mailto:{address_for(group, domain, 'request')}?subject=help>"),
        *unsubscribe_headers(address_for(group, domain, "leave", reader.token), unsubscribe_link),
        ("Precedence", "list"),
        ("MIME-Version", "1.0"),
    ]
    head = "".join(f"{k}: {v}\r\n" for k, v in headers).encode()
    text = _part("text/plain", prepared, _personal(folder, info, reader, False), [p[1] for p in chosen])
    label = f"digest {issue_id}"
    if reader.plain:
        return short_lines(head + text, label)
    html = _part("text/html", prepared, _personal(folder, info, reader, True), [p[2] for p in chosen])
    # Random, so no text quoted in the digest can end a part early.
    boundary = f"=_digest_{secrets.token_hex(12)}"
    # Quoted-printable and base64 keep the body's lines short; short_lines is the guarantee.
    return short_lines(head + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode()
                       + f"--{boundary}\r\n".encode() + text + f"\r\n--{boundary}\r\n".encode() + html
                       + f"\r\n--{boundary}--\r\n".encode(), label)

