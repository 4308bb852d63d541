"""Commit raw mail before anyone is told 250. One writer thread groups concurrent commits."""
from __future__ import annotations

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

from mailhub.db import insert_ignoring_duplicates, writing
from mailhub.models import Message, utcnow
from mailhub.parse import header_message_id, read_headers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    group_id: int
    channel: str
    address_token: Optional[str]
    rcpt: str
    envelope_from: str
    raw: bytes
    header_id: Optional[str] = None  # the Message-ID its headers give ("" for none), if read already


def header_id(raw: bytes) -> str:
    """The Message-ID the mail's headers give, or "" (none, or headers that do not parse)."""
    try:
        return header_message_id(read_headers(raw))
    except Exception:  # noqa: BLE001 - unparsable headers still get stored
        return ""


# Message.reason of a post taken from an archive (`mailhub import`): it was published elsewhere
# before, so digests leave it out like fan-out does.
IMPORTED = "imported"


def message_id_of(raw: bytes, domain: str, stable: bool = False, found: Optional[str] = None) -> str:
    """The mail's Message-ID (`found`, when the caller has read it), or a made-up one so that every
    stored row has a dedup key. Made up at random for live mail (two alike mails without one are
    two posts); with `stable`, from the bytes, so that importing an archive again finds its mails
    without one."""
    if found is None:
        found = header_id(raw)
    made_up = hashlib.sha256(raw).hexdigest()[:32] if stable else uuid.uuid4().hex
    return found or f"mailhub-{made_up}@{domain}"


def insert_incoming(session: Session, items: list[Incoming], domain: str) -> None:
    """Add the rows; a (group, channel, Message-ID) already stored is silently kept once."""
    now = utcnow()
    rows = [
        {"group_id": i.group_id, "channel": i.channel, "address_token": i.address_token, "rcpt": i.rcpt,
         "envelope_from": i.envelope_from, "raw": i.raw, "message_id": message_id_of(i.raw, domain, found=i.header_id),
         "received_at": now, "state": "new", "reason": "", "attempts": 0, "from_addr": "",
         "from_name": "", "subject": "", "body_text": "", "new_text": "", "thread_index": "", "attachments": []}
        for i in items
    ]
    insert_ignoring_duplicates(session, Message, rows, ["group_id", "channel", "message_id"])


class StoreWriter:
    """Durable intake: `submit` returns a future that completes once the rows are committed."""

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
                insert_incoming(session, [i for items, _ in batch for i in items], self.domain)
                session.commit()
        except Exception as exc:  # noqa: BLE001 - every waiting client gets a 451, nobody a 250
            log.error("store failed for %d message(s): %s", len(batch), exc)
            for _, fut in batch:
                fut.set_exception(exc)
            return
        for _, fut in batch:
            fut.set_result(None)
        self.on_commit()
