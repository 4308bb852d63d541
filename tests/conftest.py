"""Real parts only: the service listens on loopback, copies land in an aiosmtpd sink, each test
has its own SQLite file (or, with MAILHUB_TEST_DATABASE=postgresql, its own database on a
PostgreSQL server the run starts)."""
from __future__ import annotations

import email.utils
import os
import smtplib
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Callable, Iterator

import pytest
from aiosmtpd.controller import Controller
from pg import PostgresServer
from typer.testing import CliRunner

from mailhub.cli import app
from mailhub.config import Config, load_config
from mailhub.service import Service

DOMAIN = "lists.example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_postgres: PostgresServer | None = None


def postgres() -> PostgresServer:
    """The run's PostgreSQL server, started by the first test that needs it."""
    global _postgres
    if _postgres is None:
        _postgres = PostgresServer().start()
    return _postgres


def pytest_sessionfinish(session, exitstatus) -> None:  # noqa: ANN001
    if _postgres is not None:
        _postgres.stop()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """For a line of figures a test measured: printed in the run's summary, also when the tests
    run in several processes (pytest-xdist hands the reports back with their properties)."""
    return lambda line: request.node.user_properties.append(("figures", line))


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    lines = [value for reports in terminalreporter.stats.values() for r in reports
             if getattr(r, "when", None) == "call" for key, value in getattr(r, "user_properties", ())
             if key == "figures"]
    if lines:
        terminalreporter.section("figures the tests measured")
        for line in lines:
            terminalreporter.write_line(line)


def test_database() -> str:
    if os.environ.get("MAILHUB_TEST_DATABASE") == "postgresql":
        return postgres().create_database()
    return "sqlite:///mailhub.db"


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data)


@dataclass
class SinkHandler:
    """Accepts (or refuses) mail like a relay would and keeps what it accepted."""

    received: list[Received] = field(default_factory=list)
    delay: float = 0.0
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> SMTP reply
    # recipient -> SMTP reply to the message data, as a relay that refuses the mail itself
    # ("554 5.6.0 …"). aiosmtpd itself answers "500 Line too long" to a line over 999 bytes.
    refuse_data: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: ANN001
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        if self.delay:
            import asyncio
            await asyncio.sleep(self.delay)
        for address in envelope.rcpt_tos:
            if address in self.refuse_data:
                return self.refuse_data[address]
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]

    def count(self) -> int:
        with self.lock:
            return len(self.received)


class Sink:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> "Sink":
        self.controller.start()
        return self

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def to(self, address: str) -> list[Received]:
        return self.handler.to(address)

    def wait(self, address: str, count: int = 1, timeout: float = 15.0) -> list[EmailMessage]:
        """The first `count` mails to `address`, waiting for them to arrive."""
        found = wait_for(lambda: len(self.to(address)) >= count and self.to(address), timeout,
                         f"{count} mail(s) to {address}")
        return [r.message for r in found[:count]]  # type: ignore[index]

    def count(self) -> int:
        return self.handler.count()

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink().start()
    yield s
    s.stop()


def write_config(folder: Path, relay_port: int, extra: str = "", database: str | None = None) -> Path:
    path = folder / "config.toml"
    path.write_text(f"""
[server]
domain = "{DOMAIN}"
host = "127.0.0.1"
port = {free_port()}
max_message_size = 100000

[database]
url = "{database or test_database()}"

[relay]
host = "127.0.0.1"
port = {relay_port}
timeout = 5

[delivery]
retry_initial = 0.2
retry_max = 0.5
{extra}
""")
    return path


class Env:
    """One test's mailhub: its config, database, service and CLI."""

    def __init__(self, folder: Path, relay_port: int, extra: str = "", database: str | None = None) -> None:
        self.path = write_config(folder, relay_port, extra, database)
        self.config: Config = load_config(self.path)
        self.service: Service | None = None
        self.runner = CliRunner()

    @property
    def port(self) -> int:
        return self.config.server.port

    def edit_config(self, change: Callable[[str], str]) -> None:
        """Rewrite config.toml's text (for keys outside the `extra` section) and load it again."""
        self.path.write_text(change(self.path.read_text()))
        self.config = load_config(self.path)

    def start(self) -> Service:
        self.service = Service(self.config)
        self.service.start()
        return self.service

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def cli(self, *args: str, ok: bool = True):  # noqa: ANN201
        result = self.runner.invoke(app, [*args, "--config", str(self.path)])
        if ok:
            assert result.exit_code == 0, f"mailhub {' '.join(args)} failed: {result.output}"
        return result

    def drained(self) -> None:
        """Wait until nothing is left to send: a test that asserts a mail did NOT come must wait
        for everything the same step queued, as the relay connections deliver in any order."""
        import json
        wait_for(lambda: json.loads(self.cli("queue", "--json").output)["counts"]["pending"] == 0,
                 what="the outbound queue to empty")

    def group(self, name: str, *members: str, policy: str = "members", addresses: str | None = None) -> None:
        """A group with these members; `addresses`: hidden or shown (if left out: a new group's default)."""
        self.cli("group", "create", name, "--policy", policy, *(["--addresses", addresses] if addresses else []))
        for m in members:
            self.cli("member", "add", name, m)

    def reply(self, msg: EmailMessage, body: str, sender: str, quote: bool = True) -> str:
        """Reply to `msg` as `sender` would from a mail program (see `reply_to`); returns where it went."""
        data, to = reply_to(msg, body, sender, quote)
        self.send(data, [to], mail_from=email.utils.parseaddr(sender)[1])
        return to

    def send(self, data: bytes | str, rcpts: list[str], mail_from: str = "ann@example.com") -> dict:
        """Send over SMTP; returns smtplib's refused-recipients dict (raises on a refused message)."""
        if isinstance(data, str):
            data = data.encode()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as smtp:
            return smtp.sendmail(mail_from, rcpts, data)


@pytest.fixture
def env(tmp_path: Path, sink: Sink) -> Iterator[Env]:
    e = Env(tmp_path, sink.port)
    yield e
    e.stop()


def text_of(msg: EmailMessage) -> str:
    """The text/plain body of a received mail, decoded."""
    part = next((p for p in msg.walk() if p.get_content_type() == "text/plain"), msg)
    return (part.get_payload(decode=True) or b"").decode(part.get_content_charset() or "utf-8")


def reply_to(msg: EmailMessage, body: str, sender: str, quote: bool = True) -> tuple[bytes, str]:
    """A reply to `msg` as a mail program writes one: to its Reply-To, "Re:" subject, In-Reply-To,
    the original quoted below. Returns the mail and the address it goes to."""
    to = email.utils.parseaddr(msg["Reply-To"] or msg["From"])[1]
    quoted = "\r\n".join("> " + line for line in text_of(msg).splitlines()) if quote else ""
    text = f"{body}\r\n\r\nOn Mon, 23 Nov 2026 at 10:00, {msg['From']} wrote:\r\n{quoted}" if quote else body
    return mail(subject="Re: " + str(msg["Subject"]), body=text, sender=sender, to=to,
                headers=f"In-Reply-To: {msg['Message-ID']}\r\n"), to


def mail(subject: str = "Hello", body: str = "Hi all", sender: str = "Ann <ann@example.com>",
         to: str = f"mentors@{DOMAIN}", message_id: str | None = None, headers: str = "") -> bytes:
    msgid = message_id or f"<{time.monotonic_ns()}@example.com>"
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {msgid}\r\n"
            f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n{headers}\r\n{body}\r\n").encode()
