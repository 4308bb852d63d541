"""Send due outbox rows through the relay: compose each copy at send time, a few connections
in parallel, and record every result soon after the relay answered."""
from __future__ import annotations

import functools
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable, NamedTuple, Optional, TypeVar

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailhub import links
from mailhub.bounces import PERMANENT, record_bounce
from mailhub.compose import RELAY_SLOT, CopyTemplate, ListInfo, build_copy
from mailhub.config import Config, DeliveryConfig
from mailhub.db import writing
from mailhub.leases import claim
from mailhub.logs import event
from mailhub.digest import Prepared, Reader, prepare
from mailhub.digest import compose as compose_digest
from mailhub.i18n.languages import DEFAULT, choose
from mailhub.models import DigestIssue, Group, Member, Message, Outbox, Topic, TopicPref, utcnow
from mailhub.relay import bind, make_token
from mailhub.router import address_for
from mailhub.signing import Signer, SlotHash
from mailhub.transport import DeliveryError, Transport, make_transport

log = logging.getLogger(__name__)

# Results are committed in chunks: a crash can re-send at most this many copies the relay took.
RECORD_EVERY = 50
RECORD_SECONDS = 0.25
# Digests claimed at a time (each is ~150 KB to build, sign and send, some 3 ms): small enough that
# the copies of a post made meanwhile go out within a second or so.
DIGEST_BATCH = 100
AHEAD = 4  # mails built per relay connection before they are sent
# Added to the recorded answer of a mail the relay refused for its form (lines, size, encoding,
# content): mailhub builds every mail to pass, so one that does not is a bug to report.
T = TypeVar("T")
REFUSED_FORM = "refused for how mailhub built the mail, not for the address: a mailhub problem, please report it"


@dataclass(frozen=True)
class Job:
    outbox_id: int
    envelope_from: str
    recipient: str
    data: bytes
    # With DKIM: `data` with its signature, made when called. The sending thread calls it, not
    # the one building the batch: RSA in OpenSSL lets go of the interpreter lock, so signing runs
    # on the other core while the next mails are built.
    signed: Optional[Callable[[], bytes]] = None

    def wire(self) -> bytes:
        """The bytes to send."""
        return self.signed() if self.signed is not None else self.data


@dataclass(frozen=True)
class Outcome:
    outbox_id: int
    error: Optional[DeliveryError] = None
    skipped: bool = False  # not tried (stopping, or the relay is down): no attempt counted


class RowMeta(NamedTuple):
    """What recording a send's result needs to know about its row."""

    attempts: int
    created_at: datetime
    member_id: Optional[int]
    group_id: Optional[int]  # None: a forward of the site's mail
    kind: str = ""  # copy, digest, notice, forward
    message_pk: Optional[int] = None


def next_attempt(delivery: DeliveryConfig, attempts: int, created_at: datetime,
                 now: datetime) -> Optional[datetime]:
    """When to try again after `attempts` failures, or None once the mail is too old to keep trying."""
    if (now - created_at).total_seconds() >= delivery.give_up_after:
        return None
    delay = min(delivery.retry_initial * 2 ** max(attempts - 1, 0), delivery.retry_max)
    return now + timedelta(seconds=delay)


def recipients(session: Session, member_ids: set[int], site_language: str) -> dict[int, Reader]:
    """What composing each member's copy or digest needs to know about them, in one query: with
    the language they read (their own, else their group's, else `site_language`, config.toml's)."""
    if not member_ids:
        return {}
    rows = session.exec(select(Member.id, Member.email, Member.name, Member.role, Member.token, Member.plain,
                               Member.language, Group.language)
                        .join(Group, col(Group.id) == Member.group_id).where(col(Member.id).in_(member_ids)))
    return {row[0]: Reader(*row[:6], choose(row[6], None, row[7], site_language)) for row in rows}


def muted_topics(session: Session, member_ids: set[int]) -> dict[int, frozenset[int]]:
    """Member id -> topics they muted, which their digests leave out."""
    found: dict[int, set[int]] = {}
    if member_ids:
        for member_id, topic_id in session.exec(select(TopicPref.member_id, TopicPref.topic_id).where(
                col(TopicPref.member_id).in_(member_ids), TopicPref.mode == "mute")):
            found.setdefault(member_id, set()).add(topic_id)
    return {m: frozenset(t) for m, t in found.items()}


class Composer:
    """Builds the bytes of each row; the shared part of a list copy is built once per message,
    variant (the text-only one only when some recipient asked for it) and language of its footer.
    `secret`: the key of web links (links.py); read once per batch when not given and [web] is on
    (the service made it at start)."""

    def __init__(self, session: Session, config: Config, signer: Optional[Signer] = None,
                 secret: Optional[bytes] = None) -> None:
        self.session, self.config, self.signer, self._secret = session, config, signer, secret
        self._copies: dict[tuple[int, bool, str], CopyTemplate] = {}
        # message -> its author's member id and token, where the group hides addresses
        self._authors: dict[int, Optional[tuple[int, str]]] = {}
        # Copies whose footer holds a relay slot: the body hash made up to the slot (signing.SlotHash),
        # and the token each row's copy got.
        self._slot_hashes: dict[tuple[int, bool, str], Optional[SlotHash]] = {}
        self._tokens: dict[int, str] = {}
        self._once: dict[tuple, Any] = {}
        self._groups: dict[int, Group] = {}
        self._issues: dict[int, tuple[DigestIssue, Prepared]] = {}

    def once(self, key: tuple, make: Callable[[], T]) -> T:
        """A value made once per batch and shared by its rows, as the copies above are (a Composer
        lives for one batch, so nothing is kept past it)."""
        if key not in self._once:
            self._once[key] = make()
        return self._once[key]

    def group(self, group_id: int) -> Group:
        if group_id not in self._groups:
            group = self.session.get(Group, group_id)
            if group is None:
                raise LookupError(f"group {group_id} no longer exists")
            self._groups[group_id] = group
        return self._groups[group_id]

    def copy(self, message_pk: int, plain: bool = False, language: str = DEFAULT) -> CopyTemplate:
        key = (message_pk, plain, language)
        if key not in self._copies:
            message = self.session.get(Message, message_pk)
            if message is None:
                raise LookupError(f"message {message_pk} no longer exists")
            group = self.group(message.group_id)
            topic = self.session.get(Topic, message.topic_id) if message.topic_id else None
            hidden = group.addresses == "hidden"
            if message_pk not in self._authors:
                found = self.session.exec(select(Member.id, Member.token).where(
                    Member.group_id == group.id, Member.email == message.from_addr.lower())).first() \
                    if hidden else None
                self._authors[message_pk] = (found[0], found[1]) if found else None
            info = ListInfo(name=group.name, title=group.title, domain=self.config.server.domain,
                            prefix=group.prefix, from_rewrite=group.from_rewrite,
                            topic_key=topic.key if topic else None, message_id=message.message_id,
                            number=message.id, max_attachment_size=group.max_attachment_size,
                            received_at=message.received_at, author_name=message.from_name,
                            hidden=hidden, relay=self._authors[message_pk] is not None,
                            private_copy=group.private_copy)
            copy = build_copy(message.raw, info, self.config.templates, plain, language)
            if self.signer is not None and copy.slot:  # hashed once up to each reader's relay token
                self._slot_hashes[key] = SlotHash.of(copy.body.removeprefix(b"\r\n"), copy.slot)
            elif self.signer is not None:  # every such recipient's body: hashed once, not per copy
                copy = replace(copy, body_hash=self.signer.body_hash(copy.body.removeprefix(b"\r\n")))
            self._copies[key] = copy
        return self._copies[key]

    def issue(self, issue_id: int) -> tuple[DigestIssue, Prepared]:
        """A digest's shared body, encoded once for every reader of it in this batch."""
        if issue_id not in self._issues:
            issue = self.session.get(DigestIssue, issue_id)
            if issue is None:
                raise LookupError(f"digest {issue_id} no longer exists")
            self._issues[issue_id] = issue, prepare(issue.parts)
        return self._issues[issue_id]

    def unsubscribe_link(self, reader: Reader) -> Optional[str]:
        """The member's one-click unsubscribe link (RFC 8058), or None while [web] is off."""
        if not self.config.web.enabled:
            return None
        if self._secret is None:  # once per batch, not per copy
            self._secret = links.site_secret(self.session)
        return links.url(self.config, self._secret, links.UNSUBSCRIBE, reader.member_id, reader.token)

    def job(self, row: Outbox, members: dict[int, Reader], muted: dict[int, frozenset[int]]) -> Job:
        """`members`: the readers of this batch's copies and digests; `muted`: their muted topics."""
        job = self._unsigned(row, members, muted)
        token = self._tokens.pop(row.id, "")  # the relay token its footer got, if any
        if self.signer is None:
            return job
        body_hash = None
        if row.kind == "copy" and row.message_pk is not None and row.member_id is not None:
            # Its body is its message's with a footer in the reader's language, hashed once for all
            # recipients of that variant and language; any other mail is one reader's.
            reader = members[row.member_id]
            key = (row.message_pk, reader.plain, reader.language)
            copy = self.copy(*key)
            body_hash = copy.body_hash or None
            slot_hash = self._slot_hashes.get(key)
            if copy.slot and slot_hash is not None and token:
                body_hash = slot_hash.body_hash(copy.slot.replace(RELAY_SLOT.encode(), token.encode()))
        return replace(job, signed=functools.partial(self.signer.sign, job.data, body_hash))

    def relay_token(self, row: Outbox, copy: CopyTemplate, reader: Reader) -> str:
        """The reader's token to write privately to the author of a copy whose footer offers it."""
        if not copy.slot or row.message_pk is None or row.member_id is None or row.group_id is None:
            return ""
        author = self._authors.get(row.message_pk)
        if author is None:
            return ""
        if self._secret is None:
            self._secret = links.site_secret(self.session)
        token = self._tokens[row.id] = make_token(self._secret, row.group_id, row.member_id, author[0], utcnow(),
                                                  bind(reader.token, author[1]))
        return token

    def _raw(self, row: Outbox) -> bytes:
        """A forward's mail, as it came."""
        message = self.session.get(Message, row.message_pk) if row.message_pk is not None else None
        if message is None:
            raise LookupError(f"message {row.message_pk} no longer exists")
        return message.raw

    def _unsigned(self, row: Outbox, members: dict[int, Reader], muted: dict[int, frozenset[int]]) -> Job:
        domain = self.config.server.domain
        if row.group_id is None:  # the site's mail to server.postmaster (postmaster.py)
            # The null sender: a postmaster address that bounces must not start a loop.
            return Job(row.id, "", row.recipient, self._raw(row))
        name = self.group(row.group_id).name
        bounces = address_for(name, domain, "bounces")
        if row.kind == "copy":
            member = members.get(row.member_id) if row.member_id is not None else None
            if row.message_pk is None or member is None:
                raise LookupError("the member has left the group")
            copy = self.copy(row.message_pk, member.plain, member.language)
            data = copy.for_recipient(address_for(name, domain, "leave", member.token), self.unsubscribe_link(member),
                                      self.relay_token(row, copy, member))
            # VERP: a bounce names the member by token, whatever the bounce text says.
            return Job(row.id, address_for(name, domain, "bounces", member.token), row.recipient, data)
        if row.kind == "digest":
            reader = members.get(row.member_id) if row.member_id is not None else None
            if row.digest_pk is None or reader is None:
                raise LookupError("the member has left the group")
            issue, prepared = self.issue(row.digest_pk)
            data = compose_digest(self.config.templates, row.digest_pk, issue.subject, prepared, reader,
                                  muted.get(reader.member_id, frozenset()), self.unsubscribe_link(reader))
            return Job(row.id, address_for(name, domain, "bounces", reader.token), row.recipient, data)
        if row.kind == "invite":  # a member's copy of an event post: their own invitation
            from mailhub.events.invite import invite_job

            return invite_job(self, row, members)
        if row.kind == "forward":
            return Job(row.id, bounces, row.recipient, self._raw(row))
        if row.payload is None:
            raise ValueError(f"notice {row.id} has no content")
        return Job(row.id, bounces, row.recipient, row.payload)


def _message_ids(session: Session, message_pks: set[Optional[int]]) -> dict[int, str]:
    pks = [pk for pk in message_pks if pk is not None]
    if not pks:
        return {}
    return dict(session.exec(select(Message.id, Message.message_id).where(col(Message.id).in_(pks))).all())


def _log_refused_form(refused: list[Outcome], meta: dict[int, RowMeta], message_ids: dict[int, str]) -> None:
    """One ERROR line per mail (not per recipient) that the relay refused for its form."""
    by_mail: dict[tuple[str, Optional[int]], list[Outcome]] = {}
    for o in refused:
        by_mail.setdefault((meta[o.outbox_id].kind, meta[o.outbox_id].message_pk), []).append(o)
    for (kind, message_pk), found in by_mail.items():
        message_id = message_ids.get(message_pk) if message_pk is not None else None
        event(log, "copy_refused_form", level=logging.ERROR, kind=kind, outbox=found[0].outbox_id,
              message_id=f"<{message_id}>" if message_id else None, answer=found[0].error, count=len(found))


def _unbuildable(outbox_id: int, exc: Exception) -> Outcome:
    """A mail that cannot be built or signed fails for good, with its reason; trying again would
    fail the same way."""
    event(log, "compose_failed", level=logging.ERROR, exc_info=True, outbox=outbox_id)
    return Outcome(outbox_id, DeliveryError(f"cannot compose: {exc}", permanent=True))


class Deliverer:
    """Owns the relay connections (one per pool thread) and works the outbox in batches."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine, self.config = engine, config
        self.signer = Signer.from_config(config.dkim)
        self._pool = ThreadPoolExecutor(config.delivery.connections, thread_name_prefix="mailhub-send")
        self._ahead = threading.Semaphore(config.delivery.connections * AHEAD)
        self._local = threading.local()
        self._transports: list[Transport] = []
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def _transport(self) -> Transport:
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = self._local.transport = make_transport(self.config.relay, self.config.server.domain)
            with self._lock:
                self._transports.append(transport)
        return transport

    def _send(self, job: Job, relay_down: threading.Event) -> Outcome:
        if self.stopping.is_set():
            return Outcome(job.outbox_id, skipped=True)
        if relay_down.is_set():  # do not wait out a timeout per row when the relay is unreachable
            return Outcome(job.outbox_id, DeliveryError("relay unavailable", permanent=False))
        try:
            data = job.wire()
        except Exception as exc:  # noqa: BLE001 - as a row that cannot be built: it fails alone
            return _unbuildable(job.outbox_id, exc)
        try:
            self._transport().send(job.envelope_from, job.recipient, data)
        except DeliveryError as exc:
            if exc.connection:
                relay_down.set()
            return Outcome(job.outbox_id, exc)
        except Exception as exc:  # noqa: BLE001 - a transport bug must not kill the worker
            event(log, "send_failed", level=logging.ERROR, exc_info=True, outbox=job.outbox_id)
            return Outcome(job.outbox_id, DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False))
        return Outcome(job.outbox_id)

    def run_once(self) -> int:
        """Claim one batch of due rows, send them, record the results. Returns rows claimed."""
        relay_down = threading.Event()
        with Session(self.engine) as session:
            ids = self._claim(session)
            if not ids:
                return 0
            # Plain rows (read like Outbox objects, by column name): nothing here changes them,
            # and making ORM objects of them took 176 of the 1,032 interpreter-lock samples of a
            # 10,000-copy fan-out.
            table = Outbox.__table__
            rows = session.execute(select(table).where(table.c.id.in_(ids))).all()
            members = recipients(session, {r.member_id for r in rows if r.member_id is not None},
                                 self.config.server.language)
            muted = muted_topics(session, {r.member_id for r in rows if r.kind == "digest" and r.member_id})
            composer = Composer(session, self.config, self.signer)
            futures: list[Future] = []
            broken = []
            for row in rows:
                try:
                    job = composer.job(row, members, muted)
                except Exception as exc:  # noqa: BLE001 - an unbuildable row fails alone
                    broken.append(_unbuildable(row.id, exc))
                    continue
                # Sent while the next ones are built, so the connections never wait for the whole
                # batch; at most AHEAD per connection built and waiting, so a batch of 150 KB digests
                # is never all in memory at once.
                self._ahead.acquire()
                future = self._pool.submit(self._send, job, relay_down)
                future.add_done_callback(lambda _: self._ahead.release())
                futures.append(future)
            meta = {r.id: RowMeta(r.attempts, r.created_at, r.member_id, r.group_id, r.kind, r.message_pk)
                    for r in rows}
        if broken:
            self._record(broken, meta)
        done: list[Outcome] = []
        last = time.monotonic()
        for fut in as_completed(futures):
            done.append(fut.result())
            if len(done) >= RECORD_EVERY or time.monotonic() - last > RECORD_SECONDS:
                self._record(done, meta)
                done, last = [], time.monotonic()
        self._record(done, meta)
        return len(ids)

    def _claim(self, session: Session) -> list[int]:
        """Due rows, copies, notices and forwards first: digests only when none of those wait, and
        DIGEST_BATCH at a time, so a post made while 10,000 digests go out waits for one small
        batch of them, not for all."""
        d = self.config.delivery
        due = (Outbox.state == "pending") & (Outbox.next_attempt_at <= utcnow())
        return (claim(session, Outbox, due & (Outbox.kind != "digest"), d.batch_size, d.lease_seconds,
                      order_by=Outbox.next_attempt_at)
                or claim(session, Outbox, due & (Outbox.kind == "digest"), min(d.batch_size, DIGEST_BATCH),
                         d.lease_seconds, order_by=Outbox.next_attempt_at))

    def _record(self, outcomes: list[Outcome], meta: dict[int, RowMeta]) -> None:
        if not outcomes:
            return
        now = utcnow()
        sent = [o.outbox_id for o in outcomes if o.error is None and not o.skipped]
        skipped = [o.outbox_id for o in outcomes if o.skipped]
        deferred: list[Outcome] = []
        failed: list[Outcome] = []
        refused: list[Outcome] = []  # for their form: mailhub's fault (see DeliveryError.refused_form)
        # Statements on the table, not the ORM class: nothing of the rows is loaded in this session,
        # and the ORM's bulk UPDATE cost two thirds of recording a batch.
        table = Outbox.__table__
        with writing(self.engine), Session(self.engine) as session:
            if sent:
                session.execute(update(table).where(table.c.id.in_(sent))
                                .values(state="sent", sent_at=now, lease_until=None, last_error=""))
            if skipped:
                session.execute(update(table).where(table.c.id.in_(skipped)).values(lease_until=None))
            for o in outcomes:
                if o.error is None:
                    continue
                attempts, created_at, member_id, group_id, *_ = meta[o.outbox_id]
                if o.error.refused_recipient and member_id is not None:
                    self._bounced(session, member_id, group_id)
                reason = str(o.error)[:500]
                if o.error.refused_form:  # never a bounce: the member's address was not refused
                    refused.append(o)
                    reason = f"{reason[:380]} ({REFUSED_FORM})"
                attempts += 1
                retry_at = None if o.error.permanent else next_attempt(self.config.delivery, attempts,
                                                                       created_at, now)
                values = {"attempts": attempts, "last_error": reason, "lease_until": None}
                if retry_at is None:
                    values["state"] = "failed"
                    failed.append(o)
                else:
                    values["next_attempt_at"] = retry_at
                    deferred.append(o)
                session.execute(update(table).where(table.c.id == o.outbox_id).values(**values))
            session.commit()
            message_ids = _message_ids(session, {meta[o.outbox_id].message_pk for o in refused})
        _log_refused_form(refused, meta, message_ids)
        # One line per outcome and recorded chunk, never one per recipient: a fan-out to 10,000 stays short.
        if sent:
            event(log, "delivered", count=len(sent))
        for name, found in (("deferred", deferred), ("failed", failed)):
            if found:
                event(log, name, level=logging.WARNING, count=len(found), outbox=found[0].outbox_id,
                      answer=found[0].error, answers=len({str(o.error) for o in found}))

    def _bounced(self, session: Session, member_id: int, group_id: Optional[int]) -> None:
        """The relay refused a member's address for good: that counts like a bounce."""
        member, group = session.get(Member, member_id), session.get(Group, group_id)
        if member is not None and group is not None:
            record_bounce(session, self.config, group, member, PERMANENT)

    def close(self) -> None:
        self.stopping.set()
        self._pool.shutdown(wait=True)
        with self._lock:
            for transport in self._transports:
                transport.close()
            self._transports.clear()
