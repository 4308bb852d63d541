"""The SMTP listener: validate recipients, store bytes, answer. It knows nothing of topics or members."""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Optional

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session as SMTPSession
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailhub.config import Config, ServerConfig
from mailhub.models import Group
from mailhub.router import AddressError, parse_address
from mailhub.store import Incoming, StoreWriter

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


class Handler:
    def __init__(self, config: Config, groups: GroupDirectory, writer: StoreWriter) -> None:
        self.config, self.groups, self.writer = config, groups, writer

    async def handle_RCPT(self, server: SMTP, session: SMTPSession, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.config.server.max_recipients:
            return "452 4.5.3 Too many recipients"
        try:
            parsed = parse_address(address, self.config.server.domain)
        except AddressError as exc:
            return f"550 5.1.1 <{address}>: {exc}"
        try:
            group_id = await self.groups.find(parsed.group)
        except Exception as exc:  # noqa: BLE001 - a store problem is temporary for the sender
            log.error("group lookup failed: %s", exc)
            return "451 4.3.0 Temporary problem, please try again later"
        if group_id is None:
            return f"550 5.1.1 <{address}>: no such group"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        # The null reverse-path <> marks bounces and auto-replies (RFC 5321 4.5.5).
        sender = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        items = []
        try:
            for rcpt in envelope.rcpt_tos:
                addr = parse_address(rcpt, self.config.server.domain)
                group_id = await self.groups.find(addr.group)
                if group_id is None:  # deleted between RCPT and DATA
                    return "451 4.3.0 Group changed during delivery, please try again"
                items.append(Incoming(group_id=group_id, channel=addr.kind, address_token=addr.token,
                                      rcpt=rcpt, envelope_from=sender, raw=raw))
            await asyncio.wrap_future(self.writer.submit(items))
        except Exception as exc:  # noqa: BLE001 - never 250 for an unstored mail
            log.error("message from <%s> not stored: %s", sender, exc)
            return "451 4.3.0 Could not store the message, please try again later"
        return "250 2.0.0 Message accepted"


def tls_context(server: ServerConfig) -> Optional[ssl.SSLContext]:
    if not server.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.tls_cert, server.tls_key)
    return context


def make_listener(config: Config, handler: Handler) -> Controller:
    return Controller(
        handler,
        hostname=config.server.host,
        port=config.server.port,
        server_hostname=config.server.domain,
        data_size_limit=config.server.max_message_size,
        ident="mailhub",
        enable_SMTPUTF8=True,
        decode_data=False,
        timeout=300,
        tls_context=tls_context(config.server),
        require_starttls=config.server.require_tls,
    )
