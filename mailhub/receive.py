"""The SMTP listener: validate recipients, store bytes, answer. It knows nothing of topics or members.

It also holds the limits that keep one client from exhausting the listener ([server] in config.toml):
concurrent sessions (in all and per client address), idle time, commands per session, line length,
message size, and the time and pace of DATA."""
from __future__ import annotations

import asyncio
import collections
import functools
import ipaddress
import logging
import resource
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session as SMTPSession, syntax
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailhub.config import Config, ServerConfig
from mailhub.logs import event, peer
from mailhub.models import Group, utcnow
from mailhub.relay import rcpt_problem
from mailhub.router import PAIR, POSTMASTER, PRIVATE, Address, AddressError, RelayRefused, parse_address
from mailhub.store import REUSED_ID, Incoming, StoreWriter, header_id

log = logging.getLogger(__name__)


class GroupDirectory:
    """Group name -> id, re-read at most every `ttl` seconds so RCPT does not hit the database
    for every recipient, while CLI changes still show up promptly."""

    def __init__(self, engine: Engine, ttl: float = 2.0) -> None:
        self.engine, self.ttl = engine, ttl
        self._ids: dict[str, int] = {}
        self._loaded = 0.0

    def cached(self, name: str) -> Optional[int]:
        """The id if known and fresh, without touching the database (safe on the event loop)."""
        if time.monotonic() - self._loaded <= self.ttl:
            return self._ids.get(name)
        return None

    def lookup(self, name: str) -> Optional[int]:
        if time.monotonic() - self._loaded > self.ttl or name not in self._ids:
            with Session(self.engine) as session:
                self._ids = {n: i for n, i in session.exec(select(Group.name, Group.id)).all()}
            self._loaded = time.monotonic()
        return self._ids.get(name)

    async def find(self, name: str) -> Optional[int]:
        found = self.cached(name)
        if found is None:
            found = await asyncio.get_running_loop().run_in_executor(None, self.lookup, name)
        return found


def private_problem(engine: Engine, config: Config, group_id: int, address: Address,
                    mail_from: Optional[str]) -> Optional[str]:
    """The refusal of a relay or pair address for this sender, or None (relay.rcpt_problem)."""
    sender = "" if mail_from in (None, "<>") else str(mail_from)
    with Session(engine) as session:
        return rcpt_problem(session, config, group_id, address, sender, utcnow())


class Handler:
    def __init__(self, config: Config, groups: GroupDirectory, writer: StoreWriter) -> None:
        self.config, self.groups, self.writer = config, groups, writer

    async def handle_RCPT(self, server: SMTP, session: SMTPSession, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.config.server.max_recipients:
            return "452 4.5.3 Too many recipients"
        # aiosmtpd drops a source route and the quotes of "mentors"@D before we see the address;
        # judge the path as the client wrote it, so neither is taken.
        written = getattr(server, "rcpt_as_written", "") or address
        try:
            parsed = parse_address(written, self.config.server.domain)
        except RelayRefused as exc:
            return f"550 5.7.1 <{printable(written)}>: {exc}"
        except AddressError as exc:
            return f"550 5.1.1 <{printable(written)}>: {exc}"
        if parsed.kind == POSTMASTER:
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"
        try:
            group_id = await self.groups.find(parsed.group)
        except Exception as exc:  # noqa: BLE001 - a store problem is temporary for the sender
            event(log, "lookup_failed", level=logging.ERROR, group=parsed.group, error=exc)
            return "451 4.3.0 Temporary problem, please try again later"
        if group_id is None:
            return f"550 5.1.1 <{printable(address)}>: no such group"
        if parsed.kind in (PRIVATE, PAIR):  # only the member a relay or pair address is for may use it
            try:
                problem = await asyncio.get_running_loop().run_in_executor(
                    None, private_problem, self.groups.engine, self.config, group_id, parsed, envelope.mail_from)
            except Exception as exc:  # noqa: BLE001 - a store problem is temporary for the sender
                event(log, "lookup_failed", level=logging.ERROR, group=parsed.group, error=exc)
                return "451 4.3.0 Temporary problem, please try again later"
            if problem:
                code, status, text = problem.split(" ", 2)
                return f"{code} {status} <{printable(address)}>: {text}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        # The null reverse-path <> marks bounces and auto-replies (RFC 5321 4.5.5).
        sender = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        items = []
        found = header_id(raw)  # read once: for the log lines and the store
        logged = f"<{found}>" if found else None  # a made-up id is the store's, not the mail's
        try:
            for rcpt in envelope.rcpt_tos:
                addr = parse_address(rcpt, self.config.server.domain)
                group_id = None
                if addr.kind != POSTMASTER:
                    group_id = await self.groups.find(addr.group)
                    if group_id is None:  # deleted between RCPT and DATA
                        return "451 4.3.0 Group changed during delivery, please try again"
                items.append(Incoming(group_id=group_id, channel=addr.kind, address_token=addr.token,
                                      rcpt=rcpt, envelope_from=sender, raw=raw, header_id=found))
                event(log, "received", message_id=logged, group=addr.group or None, channel=addr.kind,
                      size=len(raw), sender=f"<{sender}>", peer=peer(session.peer))
            stored = await asyncio.wrap_future(self.writer.submit(items))
        except Exception as exc:  # noqa: BLE001 - never 250 for an unstored mail
            event(log, "not_stored", level=logging.ERROR, sender=f"<{sender}>", error=exc)
            return "451 4.3.0 Could not store the message, please try again later"
        for item, done in zip(items, stored):
            # One line per row, saying what it is: a mail delivered again is a "duplicate" (kept
            # as discarded, naming the row that has it), a reused Message-ID is stored under its own.
            event(log, done.outcome, message_id=logged, id=done.pk, rcpt=item.rcpt, key=f"<{done.message_id}>"
                  if done.outcome == REUSED_ID else None, earlier=done.earlier)
        return "250 2.0.0 Message accepted"

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd would answer "500 Error: (KeyError) ..." with our internals; nothing was stored,
        # so the sender should simply try again.
        event(log, "session_failed", level=logging.ERROR, exc_info=error, error=repr(error))
        return "451 4.3.0 Temporary problem, please try again later"


def printable(address: str) -> str:
    """An address fit to echo in a reply: bytes that are not UTF-8 reach us as surrogates, which
    would make the reply itself fail to encode."""
    shown = address.strip().removeprefix("<").removesuffix(">")
    return shown.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class DataLimits:
    max_bytes: int
    max_line: int  # bytes, without the line end and the dot added for transparency
    max_seconds: float  # the whole DATA phase, from the 354 to the end mark
    min_rate: float  # bytes per second on average, after a head start of RATE_HEAD_START bytes; 0: none


TOO_BIG, TOO_LONG = "too big", "line too long"  # answered after the end mark
TOO_SLOW, TOO_LATE = "too slow", "took too long"  # answered at once, and the connection closed

# The head start before data_min_rate bites: a client may fall this many bytes behind the minimum
# rate (one minute at the default 100 bytes/s; about one text mail with its headers), so a stall
# at the start, or a small mail on a slow phone link, is never cut off, while a client that
# dribbles a line a second is, after about a minute instead of at data_timeout (ten). In bytes
# rather than seconds, so the grace scales with the rate: a higher minimum means a shorter one.
RATE_HEAD_START = 6000


class Pace:
    """Holds one DATA phase to `min_rate`: the reader adds to `size`, and one timer, set for the
    moment the client would fall behind if nothing more came, wakes only then, so a steady mail
    costs an addition per line and a timer or two, not a timer per line."""

    def __init__(self, min_rate: float, deadline: asyncio.Timeout) -> None:
        self.min_rate, self.deadline = min_rate, deadline
        self.loop = asyncio.get_running_loop()
        self.start, self.size, self.slow = self.loop.time(), 0, False
        self.timer: Optional[asyncio.TimerHandle] = None
        if min_rate > 0:
            self._check()

    def _check(self) -> None:
        now = self.loop.time()
        due = self.start + (self.size + RATE_HEAD_START) / self.min_rate
        if now < due:
            self.timer = self.loop.call_at(due, self._check)
        else:  # ends the read at once, through the same timeout that enforces max_seconds
            self.slow = True
            self.deadline.reschedule(now)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


async def read_data(reader: asyncio.StreamReader, limits: DataLimits,
                    heard: Callable[[int], None] = lambda size: None) -> tuple[bytes, Optional[str]]:
    """The message after DATA, up to CRLF.CRLF, with CRLF line ends and dots unstuffed; or b"" and
    TOO_BIG or TOO_LONG. Past a limit the rest is read and dropped, so the answer comes after
    the end mark, where the client listens for it (RFC 5321 4.2.5). Past `max_seconds`, or when
    the client falls behind `min_rate`, it returns b"" and TOO_LATE or TOO_SLOW at once: reading on
    is what those limits forbid. `heard` gets the bytes read so far each time more come.

    A bare LF ends a line like CRLF (Postfix's default), so mail from scripts that write LF
    only is taken whole instead of as one endless line. The end mark itself must be exactly
    CRLF "." CRLF: taking LF "." CRLF there is what SMTP smuggling exploits."""
    pace: Optional[Pace] = None
    try:
        async with asyncio.timeout(limits.max_seconds) as deadline:
            pace = Pace(limits.min_rate, deadline)
            return await _read_lines(reader, limits, heard, pace)
    except TimeoutError:
        if not deadline.expired():
            raise
        return b"", TOO_SLOW if pace is not None and pace.slow else TOO_LATE
    finally:
        if pace is not None:
            pace.stop()


async def _read_lines(reader: asyncio.StreamReader, limits: DataLimits, heard: Callable[[int], None],
                      pace: Pace) -> tuple[bytes, Optional[str]]:
    lines: list[bytes] = []
    partial = bytearray()  # a line longer than the reader's buffer, arriving in pieces
    in_line = tail_cr = False  # the last piece did not end a line / ended in CR
    after_crlf = True  # the DATA command's own CRLF starts the first line
    problem = None
    while True:
        try:
            piece = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:
            piece = await reader.read(exc.consumed)
        except asyncio.IncompleteReadError as exc:
            raise ConnectionResetError("connection closed during DATA") from exc
        if piece == b".\r\n" and after_crlf and not in_line:
            return b"".join(lines), problem
        pace.size += len(piece)
        heard(pace.size)
        if problem is None and pace.size > limits.max_bytes:
            problem = TOO_BIG
        if not piece.endswith(b"\n"):
            in_line, tail_cr = True, piece.endswith(b"\r")
            if problem is None:
                partial += piece
                if len(partial) > limits.max_line + 2:  # + a stuffed dot and a CR
                    problem = TOO_LONG
        else:
            after_crlf = piece.endswith(b"\r\n") or (piece == b"\n" and tail_cr)
            line = bytes(partial) + piece if partial else piece
            text = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            partial.clear()
            in_line = tail_cr = False
            text = text[1:] if text.startswith(b".") else text
            if problem is None and len(text) > limits.max_line:
                problem = TOO_LONG
            if problem is None:
                lines.append(text + b"\r\n")
        if problem is not None:  # drop what was read: a refused mail must not hold memory
            lines.clear()
            partial.clear()


@dataclass
class SessionCount:
    """Open sessions of one listener, in all and per client address, so that one client cannot
    take every place. Only the listener's event loop touches it, so no lock."""

    limit: int
    per_address: int
    open: int = 0
    by_address: dict[str, int] = field(default_factory=dict)  # addresses with a session open only

    def enter(self, address: str) -> Optional[str]:
        """None when the session may go ahead (and is counted), else why not: TOO_MANY_SESSIONS
        or TOO_MANY_FROM_ADDRESS."""
        if self.open >= self.limit:
            return TOO_MANY_SESSIONS
        held = self.by_address.get(address, 0)
        if held >= self.per_address:
            return TOO_MANY_FROM_ADDRESS
        self.open += 1
        self.by_address[address] = held + 1
        return None

    def leave(self, address: str) -> None:
        self.open -= 1
        held = self.by_address.pop(address) - 1
        if held:
            self.by_address[address] = held


TOO_MANY_SESSIONS, TOO_MANY_FROM_ADDRESS = "too many sessions", "too many sessions from this address"
REFUSALS = {
    TOO_MANY_SESSIONS: "421 4.7.0 Too many connections, try again later",
    TOO_MANY_FROM_ADDRESS: "421 4.7.0 Too many connections from your address, try again later",
}


def client_address(peername: Any) -> str:
    """The IP address a session counts against: an IPv4-mapped IPv6 address (a dual-stack
    listener's view of an IPv4 client) as the IPv4 address it is."""
    host = str(peername[0] if isinstance(peername, tuple) else peername)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:  # not an IP address (a Unix socket): counted by what it is
        return host
    return str(getattr(ip, "ipv4_mapped", None) or ip)


class LimitedSMTP(SMTP):
    """aiosmtpd's SMTP session with mailhub's limits. It overrides a few of aiosmtpd's private
    methods (_handle_client, _timeout_cb, _smtp_methods), checked against aiosmtpd 1.4."""

    def __init__(self, handler: Any, server: ServerConfig, sessions: SessionCount, **kwargs: Any) -> None:
        # aiosmtpd keeps these per-command limits in one dict shared by every session, cleared by each
        # new connection and grown by each EHLO; each session needs its own.
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit)
        super().__init__(handler, data_size_limit=server.max_message_size, timeout=server.idle_timeout, **kwargs)
        self.limits = DataLimits(server.max_message_size, server.max_line_length, server.data_timeout,
                                 server.data_min_rate)
        self.max_commands, self.sessions = server.max_commands, sessions
        self.admitted, self.commands, self.rcpt_as_written = False, 0, ""
        self.address, self.refused = "", None
        self._last_heard = float("-inf")  # when message data last came
        self._data_size = 0  # bytes of the current DATA so far
        self._smtp_methods = {name: self._counted(name, method) for name, method in self._smtp_methods.items()}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # not the STARTTLS upgrade of a session already counted
            self.address = client_address(transport.get_extra_info("peername"))
            self.refused = self.sessions.enter(self.address)
            self.admitted = self.refused is None
        super().connection_made(transport)

    def connection_lost(self, error: Optional[Exception]) -> None:
        if self.admitted:
            self.admitted = False
            self.sessions.leave(self.address)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        if not self.admitted:
            event(log, "session_refused", level=logging.WARNING, peer=peer(self.session.peer),
                  reason=self.refused, open=self.sessions.open,
                  from_address=self.sessions.by_address.get(self.address, 0))
            await self.push(REFUSALS[self.refused])
            self.transport.close()
            return
        await super()._handle_client()

    def _timeout_cb(self) -> None:
        # Commands restart aiosmtpd's timer; message data only notes the time it came (see _heard),
        # so a big mail on a slow line is not cut off, at the cost of one float per line.
        quiet = self.loop.time() - self._last_heard
        if quiet < self._timeout_duration:
            self._reset_timeout(self._timeout_duration - quiet)
            return
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(f"421 4.4.2 {self.hostname} Idle timeout, closing connection\r\n".encode())
        super()._timeout_cb()

    def _counted(self, name: str, method: Callable[[str], Awaitable[None]]) -> Callable[[str], Awaitable[None]]:
        @functools.wraps(method)  # keeps the help text aiosmtpd's HELP reads from the method
        async def run(arg: str) -> None:
            if self.transport is None or self.transport.is_closing():
                return  # commands the client sent ahead before we closed
            self.commands += 1
            if self.commands > self.max_commands and name != "QUIT":
                event(log, "session_closed", level=logging.WARNING, peer=peer(self.session.peer),
                      reason="too many commands", limit=self.max_commands)
                await self.push(f"421 4.7.0 Too many commands (limit {self.max_commands} per session), "
                                "closing connection")
                self.transport.close()
                return
            await method(arg)
        return run

    async def smtp_RCPT(self, arg: str) -> None:
        self.rcpt_as_written = next(iter((arg or "").partition(":")[2].split()), "")
        await super().smtp_RCPT(arg)

    def _heard(self, size: int) -> None:
        self._last_heard, self._data_size = self.loop.time(), size

    async def _hang_up_in_data(self, problem: str, began: float) -> None:
        """421 and close for a DATA past data_timeout or under data_min_rate. Nothing is stored,
        and what the client sent ahead is dropped unread, so none of it is taken as a command."""
        if problem == TOO_SLOW:
            limit = self.limits.min_rate
            why = f"Data transfer too slow (less than {limit:g} bytes per second)"
        else:
            limit = self.limits.max_seconds
            why = f"Data took longer than {limit:g} s"
        event(log, "session_closed", level=logging.WARNING, peer=peer(self.session.peer), reason=f"data {problem}",
              limit=limit, received=self._data_size, seconds=round(self.loop.time() - began, 1))
        await self.push(f"421 4.4.2 {self.hostname} {why}, closing connection")
        self.transport.close()
        await self._reader.read()  # until the close is done; aiosmtpd then ends this session's task

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        # aiosmtpd's own DATA takes only CRLF as a line end (a bare-LF mail is one long line, refused
        # past 1,001 bytes with "500 Line too long") and answers 500/552 without saying the limit.
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        began, self._data_size = self.loop.time(), 0
        content, problem = await read_data(self._reader, self.limits, self._heard)
        if problem in (TOO_SLOW, TOO_LATE):
            await self._hang_up_in_data(problem, began)
            return
        if problem == TOO_BIG:
            status = f"552 5.3.4 Message too big (limit {self.limits.max_bytes} bytes)"
        elif problem == TOO_LONG:
            status = (f"552 5.6.0 Line too long (limit {self.limits.max_line} bytes per line, RFC 5321 "
                      "4.5.3.1.6); wrap the text or send it as an attachment")
        else:
            self.envelope.content = self.envelope.original_content = content
            status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)


def tls_context(server: ServerConfig) -> Optional[ssl.SSLContext]:
    if not server.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.tls_cert, server.tls_key)
    return context


FILES_BESIDES_SESSIONS = 100  # database, log, worker pipes, the listening socket


def make_room_for_sessions(sessions: int) -> None:
    """Each session holds a socket: raise the soft open-files limit to what max_sessions needs,
    as far as the hard limit allows, so a full listener does not fail in accept() instead of
    answering 421."""
    need = sessions + FILES_BESIDES_SESSIONS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < need:
        event(log, "open_files_low", level=logging.WARNING, limit=target, max_sessions=sessions, need=need,
              advice=f"raise it (ulimit -n {need}, or LimitNOFILE= in the systemd unit) or lower server.max_sessions")


class Listener(Controller):
    def __init__(self, handler: Handler, server: ServerConfig, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        # not `self.server`: Controller keeps its asyncio server there
        self.limits, self.sessions = server, SessionCount(server.max_sessions, server.max_sessions_per_ip)

    def factory(self) -> LimitedSMTP:
        return LimitedSMTP(self.handler, self.limits, self.sessions, **self.SMTP_kwargs)


def make_listener(config: Config, handler: Handler) -> Controller:
    make_room_for_sessions(config.server.max_sessions)
    return Listener(
        handler,
        config.server,
        hostname=config.server.host,
        port=config.server.port,
        server_hostname=config.server.domain,
        ident="mailhub",
        enable_SMTPUTF8=True,
        decode_data=False,
        tls_context=tls_context(config.server),
        require_starttls=config.server.require_tls,
    )
