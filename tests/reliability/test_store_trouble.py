"""A database that is locked by someone else, read-only, or on a full disk makes the listener
answer 451 (try later), never 250; the service keeps running and takes the same mail once the
store is back. The trouble is real: another process holds SQLite's write lock; the database
files are made immutable (chattr +i: no process, root included, may write them; SQLite says
"disk I/O error"); or the kernel refuses the serve process's writes past a file size
(RLIMIT_FSIZE, what a full disk looks like to SQLite: "database or disk is full")."""
from __future__ import annotations

import resource
import smtplib
import sqlite3
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from conftest import DOMAIN, Sink, mail
from served import Served, serving

POST = f"mentors@{DOMAIN}"


@pytest.fixture
def served(tmp_path: Path, sink: Sink) -> Iterator[Served]:
    with serving(tmp_path, sink) as s:
        s.env.group("mentors", "ann@example.com", "bea@example.com")
        s.start()
        yield s


def send(served: Served, subject: str) -> None:
    """One SMTP transaction; raises smtplib's error for anything but 250. The timeout outlasts
    SQLite's busy wait (10 s), after which a locked store answers."""
    with smtplib.SMTP("127.0.0.1", served.env.port, timeout=30) as smtp:
        smtp.sendmail("ann@example.com", [POST], mail(subject=subject, message_id=f"<{subject.replace(' ', '-')}@x>"))


def refused_with_451(served: Served, subject: str) -> str:
    """The store's trouble as the sender sees it: 451 after DATA, or already at RCPT when the
    listener's list of groups was due to be read again just then."""
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPRecipientsRefused)) as err:
        send(served, subject)
    if isinstance(err.value, smtplib.SMTPRecipientsRefused):
        [(code, reply)] = err.value.recipients.values()
    else:
        code, reply = err.value.smtp_code, err.value.smtp_error
    assert code == 451, err.value
    return reply.decode()


def test_a_database_locked_by_another_program_gets_451_then_recovers(served: Served, sink: Sink):
    lock = sqlite3.connect(served.env.config.database.url.removeprefix("sqlite:///"), timeout=1)
    lock.execute("BEGIN EXCLUSIVE")  # as a backup tool or a stuck admin shell might
    try:
        assert "try again later" in refused_with_451(served, "While locked")
    finally:
        lock.rollback()
        lock.close()
    send(served, "While locked")  # the sender's retry, as an MTA would make it
    assert [m["Subject"] for m in sink.wait("bea@example.com")] == ["[mentors] While locked"]


def chattr(flag: str, *files: Path) -> bool:
    done = subprocess.run(["chattr", flag, *map(str, files)], capture_output=True)
    return done.returncode == 0


def test_a_read_only_database_gets_451_then_recovers(served: Served, sink: Sink):
    db = Path(served.env.config.database.url.removeprefix("sqlite:///"))
    files = [db, db.with_name(db.name + "-wal")]  # not -shm: SQLite maps it, and a refused page is SIGBUS
    if not chattr("+i", *files):
        pytest.skip("chattr +i needs CAP_LINUX_IMMUTABLE (root); this machine's user lacks it")
    try:
        assert "try again later" in refused_with_451(served, "Read only")
    finally:
        assert chattr("-i", *files)
    send(served, "Read only")
    assert [m["Subject"] for m in sink.wait("bea@example.com")] == ["[mentors] Read only"]


def test_a_full_disk_gets_451_then_recovers(served: Served, sink: Sink):
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    processes = [served.proc.pid, served.worker_pid()]  # type: ignore[union-attr]
    for pid in processes:  # no write may reach past the first byte of any file
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))
    try:
        assert "try again later" in refused_with_451(served, "Disk full")
        assert "try again later" in refused_with_451(served, "Disk still full")
    finally:
        for pid in processes:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))
    send(served, "Disk full")
    send(served, "Disk freed")
    got = sink.wait("bea@example.com", 2)
    assert sorted(m["Subject"] for m in got) == ["[mentors] Disk freed", "[mentors] Disk full"]


def test_a_standard_output_that_cannot_be_written_does_not_stop_the_service(tmp_path: Path, sink: Sink):
    """`serve` says on standard output that it is receiving mail. When that cannot be written (a
    pipe nobody reads, or a log file on a full disk: the test above once lost the service that
    way, when the disk filled just as it started), the service runs on and stops cleanly."""
    with serving(tmp_path, sink) as s:
        s.env.group("mentors", "ann@example.com", "bea@example.com")
        s.start(stdout_closed=True)
        send(s, "Nobody reads stdout")
        assert [m["Subject"] for m in sink.wait("bea@example.com")] == ["[mentors] Nobody reads stdout"]
        assert s.proc is not None and s.proc.poll() is None, s.tail()
        assert s.stop() == 0, s.tail()  # SIGTERM: it stops as usual, recording what it sent
