"""Commit raw mail before anyone is told 250. One writer thread groups concurrent commits."""
from __future__ import annotations

import email.utils
import hashlib
import logging
import queue
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Optional

from sqlalchemy.engine import Engine
from sqlmodel import Session

from sqlalchemy import insert
from sqlmodel import col, select

from mailhub.db import insert_or_skip, prepared_insert, writing
from mailhub.models import Message, utcnow
from mailhub.parse import decode_header, header_message_id, read_headers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    group_id: Optional[int]  # None: mail to the site's postmaster@ or abuse@
    channel: str
    address_token: Optional[str]
    rcpt: str
    envelope_from: str
    raw: bytes
    header_id: Optional[str] = None  # the Message-ID its headers give ("" for none), if read already


@dataclass(frozen=True)
class Stored:
    """What became of one Incoming: the row that holds it, and for a mail that was not kept as
    new, why. Every 250 is logged with one of these."""

    pk: int
    outcome: str  # STORED, REUSED_ID (stored under an id of its own) or DUPLICATE (not stored again)
    message_id: str  # the key it was stored under (for a duplicate, the key of the earlier mail)
    earlier: Optional[int] = None  # the row that already had its Message-ID


STORED, REUSED_ID, DUPLICATE = "stored", "reused_id", "duplicate"
_KEY = ("group_id", "channel", "message_id")  # a mail's row is unique by these


def header_id(raw: bytes) -> str:
    """The Message-ID the mail's headers give, or "" (none, or headers that do not parse)."""
    try:
        return header_message_id(read_headers(raw))
    except Exception:  # noqa: BLE001 - unparsable headers still get stored
        return ""


def header_fields(raw: bytes) -> tuple[str, str]:
    """(From address, Subject) as the headers give them, for mail not processed: what a listing
    shows of it."""
    try:
        headers = read_headers(raw)
    except Exception:  # noqa: BLE001 - a listing must not fail on one odd mail
        return "", ""
    return email.utils.parseaddr(str(headers.get("From") or ""))[1].lower(), decode_header(headers.get("Subject"))


# Message.reason of a post taken from an archive (`mailhub import`): it was published elsewhere
# before, so digests leave it out like fan-out does.
IMPORTED = "imported"

# The headers that make a mail what it is. Everything else may differ between two deliveries of
# one mail: each hop adds Received, Return-Path, Delivered-To, authentication results, spam scores
# and signatures of its own. A person's re-sending (Resent-*, RFC 5322 3.6.6) is a new mail.
_IDENTITY = frozenset({b"from", b"sender", b"to", b"cc", b"subject", b"date", b"message-id", b"in-reply-to",
                       b"references", b"mime-version", b"content-type", b"content-transfer-encoding",
                       b"resent-from", b"resent-date", b"resent-message-id"})


def fingerprint(raw: bytes) -> str:
    """A digest of the mail's identity headers and body, the same for every delivery of one mail
    and different for another mail that reuses its Message-ID."""
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    kept: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if kept:
                kept[-1] += b" " + line.strip()  # unfolded: a relay may fold a header differently
            continue
        name, colon, value = line.partition(b":")
        kept.append(name.strip().lower() + b":" + b" ".join(value.split()) if colon else b"")
    digest = hashlib.sha256()
    for line in sorted(h for h in kept if h.partition(b":")[0] in _IDENTITY):
        digest.update(line + b"\n")
    digest.update(b"\n" + body.rstrip())
    return digest.hexdigest()


def message_id_of(raw: bytes, domain: str, stable: bool = False, found: Optional[str] = None) -> str:
    """The mail's Message-ID (`found`, when the caller has read it), or one made from its content
    so that every stored row has a dedup key: live mail by its fingerprint (the same mail sent
    again is found, whatever hops it took; another mail is another key); with `stable`, an
    archive's mail by its bytes, so that importing the archive again finds it."""
    if found is None:
        found = header_id(raw)
    if found:
        return found
    return f"mailhub-{hashlib.sha256(raw).hexdigest()[:32]}@{domain}" if stable else own_id(raw, domain)


def own_id(raw: bytes, domain: str) -> str:
    """The key of a mail whose Message-ID an earlier, different mail of the group already has:
    made from its content, so a second delivery of it finds it again."""
    return f"mailhub-{fingerprint(raw)[:32]}@{domain}"


def _same_key(group_id: Optional[int], channel: str, message_id: str):  # noqa: ANN202 - a where clause
    in_group = Message.group_id == group_id if group_id is not None else col(Message.group_id).is_(None)
    return in_group & (Message.channel == channel) & (Message.message_id == message_id)


def place(session: Session, group_id: Optional[int], channel: str, message_id: str, raw: bytes,
          domain: str) -> tuple[str, str, Optional[int]]:
    """Where a mail goes whose Message-ID the group may hold already: (STORED, message_id, None)
    when it does not; (DUPLICATE, key, pk) when the mail there is this one delivered again;
    (REUSED_ID, own key, pk of the earlier mail) when another mail has its id. Only a second
    delivery is dropped: broken clients and scripts reuse Message-IDs for mails of their own."""
    earlier = session.exec(select(Message.id, Message.raw).where(_same_key(group_id, channel, message_id))).first()
    if earlier is None:
        return STORED, message_id, None
    mine = fingerprint(raw)
    if fingerprint(earlier[1]) == mine:
        return DUPLICATE, message_id, earlier[0]
    key = own_id(raw, domain)
    again = session.exec(select(Message.id).where(_same_key(group_id, channel, key))).first()
    if again is not None:
        return DUPLICATE, key, again
    return REUSED_ID, key, earlier[0]


def _row(item: Incoming, message_id: str, now, **changes) -> dict:  # noqa: ANN001, ANN003
    return {"group_id": item.group_id, "channel": item.channel, "address_token": item.address_token,
            "rcpt": item.rcpt, "envelope_from": item.envelope_from, "raw": item.raw, "message_id": message_id,
            "received_at": now, "state": "new", "reason": "", "attempts": 0, "from_addr": "",
            "from_name": "", "subject": "", "body_text": "", "new_text": "", "thread_index": "",
            "attachments": [], **changes}


def _insert_one(session: Session, row: dict) -> int:
    return session.execute(insert(Message).values(**row).returning(Message.id)).scalar_one()


def insert_incoming(session: Session, items: list[Incoming], domain: str) -> list[Stored]:
    """Add the rows, one per item, and say what became of each (in the order given).

    The usual batch is one statement. A mail whose (group, channel, Message-ID) is there already
    is looked at alone: the same mail again is recorded as a discarded duplicate, naming the row
    that has it; a different mail is stored under an id of its own (see `place`)."""
    now = utcnow()
    keys = [(i.group_id, i.channel, message_id_of(i.raw, domain, found=i.header_id)) for i in items]
    first: dict[tuple, int] = {}  # key -> index of the first item with it; the others go the slow way
    for n, key in enumerate(keys):
        if key[0] is not None:  # NULL never conflicts in a unique key: site mail goes the slow way
            first.setdefault(key, n)
    done: dict[int, Stored] = {}
    order = list(first.values())
    for n, pk in zip(order, _insert_new(session, [_row(items[n], keys[n][2], now) for n in order])):
        if pk is not None:
            done[n] = Stored(pk, STORED, keys[n][2])
    for n, item in enumerate(items):
        if n not in done:
            done[n] = _store_alone(session, item, keys[n], domain, now)
    return [done[n] for n in range(len(items))]


def _insert_new(session: Session, rows: list[dict]) -> list[Optional[int]]:
    """Insert the rows, skipping those whose key is there already; each row's id, or None."""
    if not rows:
        return []
    # The listener's hot path: its store thread shares the interpreter lock with the SMTP event
    # loop, so on SQLite a prepared statement, not the ORM's INSERT (half the CPU; see prepared_insert).
    ids = prepared_insert(session, Message, list(_KEY), rows)
    if ids is not None:
        return ids
    returned = session.execute(
        _insert_many(session).returning(Message.id, Message.group_id, Message.channel, Message.message_id), rows).all()
    found = {(g, c, m): pk for pk, g, c, m in returned}
    return [found.get((r["group_id"], r["channel"], r["message_id"])) for r in rows]


def _store_alone(session: Session, item: Incoming, key: tuple, domain: str, now) -> Stored:  # noqa: ANN001
    group_id, channel, message_id = key
    for _ in range(2):  # a second look only when another process stored the key in between
        outcome, stored_as, earlier = place(session, group_id, channel, message_id, item.raw, domain)
        if outcome == DUPLICATE:
            # Kept, discarded, so that what happened to the mail can be looked up (`mailhub messages`).
            pk = _insert_one(session, _row(item, f"mailhub-dup-{uuid.uuid4().hex}@{domain}", now, state="discarded",
                                           reason=f"duplicate: message {earlier} is the same mail"))
            return Stored(pk, DUPLICATE, stored_as, earlier)
        reason = f"its Message-ID <{message_id}> is message {earlier}'s, a different mail" if earlier else ""
        # Skipped on a conflict: on PostgreSQL another serve may have taken the same mail a moment
        # ago (SQLite writes one at a time); the next look then finds it.
        pk = session.execute(_insert_many(session).values(**_row(item, stored_as, now, reason=reason))
                             .returning(Message.id)).scalar()
        if pk is not None:
            return Stored(pk, outcome, stored_as, earlier)
    raise RuntimeError(f"could not store a mail with Message-ID <{message_id}>: its key kept changing")


def _insert_many(session: Session):  # noqa: ANN202
    """An INSERT that skips a row whose key is there already (the slow path then looks at it)."""
    return insert_or_skip(session, Message, list(_KEY))


class StoreWriter:
    """Durable intake: `submit` returns a future that completes once the rows are committed, with
    a `Stored` for each item."""

    def __init__(self, engine: Engine, domain: str, on_commit: Callable[[], None] = lambda: None,
                 max_batch: int = 256) -> None:
        self.engine, self.domain, self.on_commit, self.max_batch = engine, domain, on_commit, max_batch
        self._queue: queue.Queue[tuple[list[Incoming], Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="mailhub-store", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def submit(self, items: list[Incoming]) -> Future:
        fut: Future = Future()
        self._queue.put((items, fut))
        return fut

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stopping:
                return

    def _commit(self, batch: list[tuple[list[Incoming], Future]]) -> None:
        try:
            with writing(self.engine), Session(self.engine) as session:
                stored = insert_incoming(session, [i for items, _ in batch for i in items], self.domain)
                session.commit()
        except Exception as exc:  # noqa: BLE001 - every waiting client gets a 451, nobody a 250
            log.error("store failed for %d message(s): %s", len(batch), exc)
            for _, fut in batch:
                fut.set_exception(exc)
            return
        at = 0
        for items, fut in batch:  # each client gets what became of its own mail
            fut.set_result(stored[at:at + len(items)])
            at += len(items)
        self.on_commit()
