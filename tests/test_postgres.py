"""Several mailhub processes on one PostgreSQL database share the inbound, outbound and digest
work: every message processed once, every copy sent once."""
from __future__ import annotations

import json
import re
import smtplib
import threading
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from conftest import DOMAIN, Env, Sink, postgres, wait_for
from reliability.served import Served

MEMBERS = [f"member{i:02d}@example.net" for i in range(50)]
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.MULTILINE | re.IGNORECASE)


def shared_database(tmp_path: Path, sink: Sink, count: int) -> list[Env]:
    """`count` configurations, each with its own listener port, all on one new database."""
    url = postgres().create_database()
    envs = []
    for i in range(count):
        folder = tmp_path / f"serve{i}"
        folder.mkdir()
        envs.append(Env(folder, sink.port, database=url))
    return envs


def post_many(port: int, first: int, count: int, clients: int = 4) -> None:
    """`count` posts over `clients` SMTP connections, as a busy MTA would hand them over."""
    def client(numbers: range) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            for n in numbers:
                author = MEMBERS[n % len(MEMBERS)]
                smtp.sendmail(author, [f"mentors@{DOMAIN}"],
                              f"From: {author}\r\nTo: mentors@{DOMAIN}\r\nSubject: Post {n}\r\n"
                              f"Message-ID: <post{n}@example.net>\r\n\r\nPost number {n}.\r\n".encode())
    runs = [threading.Thread(target=client, args=(range(first + c, first + count, clients),)) for c in range(clients)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()


def test_two_serve_processes_and_a_worker_send_every_copy_exactly_once(tmp_path, sink):
    a, b, c = shared_database(tmp_path, sink, 3)
    a.cli("group", "create", "mentors")
    a.cli("group", "set", "mentors", "--include-author", "on")
    roster = tmp_path / "members.csv"
    roster.write_text("email\n" + "\n".join(MEMBERS) + "\n")
    a.cli("member", "import", "mentors", str(roster))
    # Two that take mail in, and a `serve --no-listen` that only works the queues.
    servers = [Served(a, tmp_path / "a.log"), Served(b, tmp_path / "b.log"),
               Served(c, tmp_path / "c.log", listen=False)]
    try:
        for s in servers:
            s.start()
        posting = [threading.Thread(target=post_many, args=(env.port, first, 500))
                   for env, first in ((a, 0), (b, 500))]
        for p in posting:
            p.start()
        for p in posting:
            p.join()
        wait_for(lambda: sink.count() >= 1000 * len(MEMBERS), timeout=300, what="50,000 copies at the relay")
        a.drained()
    finally:
        for s in servers:
            s.stop()

    copies = Counter((r.rcpt_tos[0], MESSAGE_ID.search(r.data).group(1).decode()) for r in sink.received)
    expected = {(m, f"<post{n}@example.net>") for n in range(1000) for m in MEMBERS}
    assert set(copies) == expected
    assert [pair for pair, times in copies.items() if times > 1] == []
    counts = json.loads(a.cli("queue", "--json").output)["counts"]
    assert counts == {"pending": 0, "sent": 50000, "failed": 0}
    topics = json.loads(a.cli("topics", "mentors", "--json").output)
    assert len(topics) == 1000  # every post processed once: one topic each
    # Every process sent a share of the copies, and no post was processed twice (their logs' events).
    work = [worked(s.log) for s in servers]
    assert all(delivered > 0 for _, delivered in work), work
    assert sum(posted for posted, _ in work) == 1000 and sum(d for _, d in work) == 50000, work


def worked(log: Path) -> tuple[int, int]:
    """Posts processed and copies delivered, by one serve process's log."""
    text = log.read_text(errors="replace")
    delivered = sum(int(n) for n in re.findall(r"event=delivered\b.*?\bcount=(\d+)", text))
    return len(re.findall(r"event=posted\b", text)), delivered


@pytest.fixture
def env(tmp_path: Path, sink: Sink) -> Iterator[Env]:
    """This module's tests, and the ones it borrows below, each on a new PostgreSQL database."""
    e = Env(tmp_path, sink.port, extra="[digest]\ncheck_every = 1\n", database=postgres().create_database())
    yield e
    e.stop()


# Tests written against SQLite, run again here on PostgreSQL, where concurrency and types differ:
# four digest runs at once (row locks instead of SQLite's single writer), and control characters
# and NUL bytes in a post (PostgreSQL's text cannot hold NUL).
from test_digest import test_a_double_trigger_or_two_runs_at_once_send_one_digest  # noqa: E402,F401
from test_cli_injection import (  # noqa: E402,F401
    test_control_characters_in_a_posts_from_name_and_subject_add_no_header_and_lose_no_copy,
)
