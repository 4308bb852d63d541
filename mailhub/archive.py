"""A group's archive in and out. `read_archive` streams the mails of an mbox file (plain or
gzipped), a Maildir or a folder of .eml files; `import_mails` stores them as published posts of a
group, threaded by the same code as live mail but never sent; `write_mbox` writes a group's posts
out as an mboxrd file."""
from __future__ import annotations

import email.utils
import gzip
import re
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Optional

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailhub.config import Config
from mailhub.db import writing
from mailhub.models import Group, Message, utcnow
from mailhub.parse import Parsed, parse_message
from mailhub.process import fill_derived
from mailhub.router import address_for
from mailhub.search import index_message
from mailhub.store import DUPLICATE, IMPORTED, message_id_of, place
from mailhub.thread import attach, live_topic

BATCH = 200  # mails per commit: an interrupted import keeps every batch it committed
BATCH_BYTES = 16 * 1024 * 1024  # and at most about this much mail held at once

# The "From " line that starts each mail of an mbox: "From sender Sun Nov 22 10:01:59 2009", as
# mutt, Python's mailbox and HyperKitty write it, or with a zone before the year as Google Takeout
# does. Mailman 3's HyperKitty does not quote "From " lines in bodies, so a line only starts a new
# mail when it carries such a date, as in mutt.
_FROM_LINE = re.compile(rb"From \S*[ \t]+[A-Z][a-z]{2}[ \t]+[A-Z][a-z]{2}[ \t]+\d{1,2}[ \t]+\d{1,2}:\d{2}(?::\d{2})?"
                        rb"[ \t]+(?:\S+[ \t]+)?\d{4}\b")
_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)
_TO_QUOTE = re.compile(rb"^(>*From )", re.MULTILINE)
_HEADER = re.compile(rb"[!-9;-~]+[ \t]*:")  # a header field's name and colon (RFC 5322 3.6.8)
_GZIP = b"\x1f\x8b"


class ArchiveError(Exception):
    """The source cannot be read as an archive; the message says why, on one line."""


@dataclass(frozen=True)
class ArchivedMail:
    where: str  # names the mail in reports: "list.mbox: message 12", or a Maildir file's path
    raw: bytes
    envelope_date: Optional[datetime] = None  # from an mbox's "From " line
    problem: str = ""  # why it could not be read from the archive


# ---- reading ------------------------------------------------------------------------------------

def read_archive(path: Path) -> Iterator[ArchivedMail]:
    """What `path` holds, checked now (a bad path is an ArchiveError here); its mails are read
    one at a time as the caller goes, so an archive of any size fits in memory."""
    try:
        if path.is_dir():
            return _folder(path)
        with open(path, "rb") as f:
            start = _unpacked(f).read(5)
    except FileNotFoundError:
        raise ArchiveError(f"no such file or folder: {path}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if start != b"From ":
        raise ArchiveError(f"{path} is neither an mbox file (it does not start with a 'From ' line) nor a Maildir "
                           "folder")
    return _mbox_file(path)


def _folder(path: Path) -> Iterator[ArchivedMail]:
    if (path / "cur").is_dir() or (path / "new").is_dir():
        # Maildir file names start with the delivery time, so name order is arrival order.
        found = [f for sub in ("cur", "new") if (path / sub).is_dir() for f in (path / sub).iterdir()]
        return _files(sorted(found, key=lambda f: f.name))
    emls = sorted((f for f in path.iterdir() if f.suffix.lower() == ".eml"), key=lambda f: f.name)
    if emls:
        return _files(emls)
    raise ArchiveError(f"{path} is a folder but not a Maildir (no cur/ or new/ in it) nor a folder of .eml files")


def _unpacked(f: BinaryIO) -> BinaryIO:
    """The file, read through gzip when it is gzipped (HyperKitty hands out list.mbox.gz)."""
    gzipped = f.read(2) == _GZIP
    f.seek(0)
    return gzip.open(f) if gzipped else f  # type: ignore[return-value]


def _files(files: list[Path]) -> Iterator[ArchivedMail]:
    for f in files:
        if f.name.startswith(".") or not f.is_file():
            continue
        try:
            yield ArchivedMail(str(f), f.read_bytes())
        except OSError as exc:
            yield ArchivedMail(str(f), b"", problem=f"cannot read it ({exc.strerror or exc})")


def _mbox_file(path: Path) -> Iterator[ArchivedMail]:
    count = 0
    try:
        with open(path, "rb") as f:
            for mail in read_mbox(_unpacked(f), str(path)):
                count += 1
                yield mail
    except (OSError, EOFError, zlib.error) as exc:
        # A truncated or damaged file: what came before stays imported, the rest is reported.
        yield ArchivedMail(f"{path}: after message {count}", b"", problem=f"cannot read on ({exc})")


def read_mbox(lines: Iterable[bytes], name: str) -> Iterator[ArchivedMail]:
    """The mails of an mbox, one at a time, with the mboxrd quoting of "From " lines undone.
    Should the file's first "From " line carry no date we know, a new mail starts at any "From "
    line after a blank one, as in Python's mailbox."""
    envelope: Optional[bytes] = None
    dated = True
    body: list[bytes] = []
    count = 0
    for line in lines:
        if envelope is None:
            dated = bool(_FROM_LINE.match(line))
        if envelope is None or _starts_mail(line, dated, body[-1] if body else b""):
            if envelope is not None:
                count += 1
                yield ArchivedMail(f"{name}: message {count}", unquote(b"".join(body)), envelope_date(envelope))
            envelope, body = line, []
        else:
            body.append(line)
    if envelope is not None:
        count += 1
        yield ArchivedMail(f"{name}: message {count}", unquote(b"".join(body)), envelope_date(envelope))


def _starts_mail(line: bytes, dated: bool, before: bytes) -> bool:
    if dated:
        return bool(_FROM_LINE.match(line))
    return line.startswith(b"From ") and before in (b"", b"\n", b"\r\n")


def unquote(chunk: bytes) -> bytes:
    """A mail as the mbox holds it, without the blank line that separates it from the next and
    with one '>' taken from each ">From " line. That is mboxrd, which is exact; for the older mboxo
    (Python's mailbox, Thunderbird) it also gives back each "From " line the writer quoted, and
    only a line that itself began with ">From " loses its '>'."""
    for blank in (b"\r\n", b"\n"):
        if chunk.endswith(blank) and chunk[:-len(blank)].endswith(b"\n"):
            chunk = chunk[:-len(blank)]
            break
    return _QUOTED.sub(rb"\1", chunk)


def envelope_date(line: bytes) -> Optional[datetime]:
    """The time on an mbox "From " line, taken as UTC when it names no zone."""
    parts = line.split(None, 2)
    parsed = email.utils.parsedate_tz(parts[2].decode("ascii", "replace")) if len(parts) == 3 else None
    if parsed is None:
        return None
    try:
        return datetime.fromtimestamp(email.utils.mktime_tz(parsed), timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


# ---- importing ----------------------------------------------------------------------------------

@dataclass
class ImportReport:
    imported: int = 0
    already: int = 0  # the group had this mail already (an earlier import, or live)
    problems: list[str] = field(default_factory=list)  # one line per mail skipped
    topics: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Prepared:
    raw: bytes
    mail: Parsed
    message_id: str
    at: datetime  # the mail's own time


def unreadable(raw: bytes) -> Optional[str]:
    """Why `raw` cannot be stored as a mail at all, or None."""
    if not raw.strip():
        return "empty"
    if not _HEADER.match(raw):
        return "not a mail: it does not start with a header line"
    return None


def mail_time(mail: Parsed, envelope: Optional[datetime], previous: Optional[datetime], now: datetime) -> datetime:
    """A mail's time is its Date; without one, the time its mbox recorded, else that of the mail
    before it. A Date in the future (a wrong clock) counts as now, so it cannot stay on top."""
    return min(mail.date or envelope or previous or now, now)


def prepare(item: ArchivedMail, domain: str, previous: Optional[datetime], now: datetime) -> Prepared | str:
    """The mail parsed and dated, or why it cannot be imported."""
    problem = item.problem or unreadable(item.raw)
    if problem is None:
        try:
            mail = parse_message(item.raw)
        except Exception as exc:  # noqa: BLE001 - parsing degrades rather than raising; if it does, say so
            problem = f"cannot be read ({type(exc).__name__}: {exc})"
    if problem is not None:
        return problem
    return Prepared(item.raw, mail, message_id_of(item.raw, domain, stable=True),
                    mail_time(mail, item.envelope_date, previous, now))


def import_mails(engine: Engine, config: Config, group: Group, mails: Iterable[ArchivedMail],
                 batch: int = BATCH) -> ImportReport:
    """Store each mail as a post of `group` published at its own time and thread it, committing
    every `batch` mails. Nothing is sent and no digest shows them (see store.IMPORTED)."""
    report = ImportReport()
    now = utcnow()
    pending: list[Prepared] = []
    size = 0
    previous: Optional[datetime] = None
    for item in mails:
        ready = prepare(item, config.server.domain, previous, now)
        if isinstance(ready, str):
            report.problems.append(f"{item.where}: {ready}")
            continue
        previous = ready.at
        pending.append(ready)
        size += len(ready.raw)
        if len(pending) >= batch or size >= BATCH_BYTES:
            _store(engine, config, group, pending, report)
            pending, size = [], 0
    _store(engine, config, group, pending, report)
    with Session(engine) as session:  # merges may have folded topics into others meanwhile
        report.topics = {t for t in (live_topic(session, t) for t in report.topics) if t is not None}
    return report


def _store(engine: Engine, config: Config, group: Group, batch: list[Prepared], report: ImportReport) -> None:
    if not batch:
        return
    assert group.id is not None
    post_address = address_for(group.name, config.server.domain)
    with writing(engine), Session(engine) as session:
        seen = set(session.exec(select(Message.message_id).where(
            Message.group_id == group.id, Message.channel == "post",
            col(Message.message_id).in_({p.message_id for p in batch}))).all())
        for p in batch:
            key = p.message_id
            if key in seen:  # the same mail again (skipped), or another that reuses its Message-ID
                outcome, key, _ = place(session, group.id, "post", key, p.raw, config.server.domain)
                if outcome == DUPLICATE:
                    report.already += 1
                    continue
            seen.add(p.message_id)
            # Never "new": the processing worker only claims new mail, so this is never fanned out.
            message = Message(group_id=group.id, channel="post", rcpt=post_address, message_id=key,
                              raw=p.raw, received_at=p.at, posted_at=p.at, state="posted", reason=IMPORTED)
            fill_derived(message, p.mail)
            session.add(message)
            session.flush()
            topic = attach(session, group.id, group.prefix, message, p.mail, p.at,
                           config.threading.subject_window_days)
            index_message(session, message)
            report.topics.add(topic.id)  # type: ignore[arg-type]
            report.imported += 1
        session.commit()


# ---- exporting ----------------------------------------------------------------------------------

def from_line(sender: str, at: datetime) -> bytes:
    """An mbox "From " line; asctime's English day and month names whatever the locale."""
    who = sender if sender and not any(c.isspace() for c in sender) else "MAILER-DAEMON"
    return f"From {who} {time.asctime(at.astimezone(timezone.utc).timetuple())}\n".encode("utf-8", "replace")


def mbox_entry(raw: bytes, sender: str, at: datetime) -> bytes:
    """One mail as mboxrd stores it: its "From " line, every line that starts with ">*From "
    quoted with one more '>', and a blank line after it."""
    body = _TO_QUOTE.sub(rb">\1", raw)
    return from_line(sender, at) + body + (b"" if body.endswith(b"\n") else b"\n") + b"\n"


def write_mbox(engine: Engine, group_id: int, out: BinaryIO, chunk: int = 100) -> int:
    """Write the group's published posts, oldest first, as received; returns how many."""
    with Session(engine) as session:
        ids = session.exec(select(Message.id).where(Message.group_id == group_id, Message.channel == "post",
                                                     Message.state == "posted")
                           .order_by(col(Message.received_at), col(Message.id))).all()
        for start in range(0, len(ids), chunk):  # a chunk of raw mail in memory at a time
            part = ids[start:start + chunk]
            rows = {r[0]: r[1:] for r in session.exec(
                select(Message.id, Message.raw, Message.from_addr, Message.received_at)
                .where(col(Message.id).in_(part))).all()}
            for message_id in part:
                raw, sender, at = rows[message_id]
                out.write(mbox_entry(raw, sender, at))
            session.expunge_all()
    return len(ids)
