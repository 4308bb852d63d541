"""Ingest benchmark: N concurrent SMTP clients post small messages to a running `mailhub serve`.

Prints accepted messages per second and the p50/p99 time from MAIL FROM to the 250 after DATA
(a 250 means the message is committed to the database with fsync).

    .venv/bin/python bench/ingest.py --messages 5000 --clients 20
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from sqlalchemy import create_engine, text

from common import DOMAIN, Install, database_options, describe, machine, show_rss


async def _reply(reader: asyncio.StreamReader) -> int:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return int(line[:3])


async def client(port: int, n: int, first: int, latencies: list[float], group: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _reply(reader)
    writer.write(b"EHLO bench.example.com\r\n")
    await _reply(reader)
    for i in range(first, first + n):
        body = (f"From: Member {i % 5} <member{i % 5}@example.com>\r\nTo: {group}@{DOMAIN}\r\n"
                f"Subject: Benchmark message {i}\r\nMessage-ID: <bench-{i}-{time.time_ns()}@example.com>\r\n\r\n"
                f"Hello, this is message {i}.\r\nA few lines of text, like a short reply from a phone.\r\n.\r\n")
        start = time.perf_counter()
        writer.write(f"MAIL FROM:<member{i % 5}@example.com>\r\n".encode())
        assert await _reply(reader) == 250
        writer.write(f"RCPT TO:<{group}@{DOMAIN}>\r\n".encode())
        assert await _reply(reader) == 250
        writer.write(b"DATA\r\n")
        assert await _reply(reader) == 354
        writer.write(body.encode())
        code = await _reply(reader)
        if code != 250:
            raise RuntimeError(f"message {i} refused with {code}")
        latencies.append(time.perf_counter() - start)
    writer.write(b"QUIT\r\n")
    writer.close()


async def run(ports: list[int], messages: int, clients: int) -> tuple[float, list[float]]:
    """The clients are spread over the serve processes' listeners, as MX records would spread them."""
    latencies: list[float] = []
    per = messages // clients
    start = time.perf_counter()
    await asyncio.gather(*(client(ports[c % len(ports)], per, c * per, latencies, "bench") for c in range(clients)))
    return time.perf_counter() - start, latencies


def wait_drained(install: Install, timeout: float = 300) -> tuple[bool, int]:
    """Wait until every stored message is processed and every copy delivered (read-only peek)."""
    engine = create_engine(install.database_url)
    deadline = time.monotonic() + timeout
    try:
        with engine.connect() as db:
            while time.monotonic() < deadline:
                new = db.execute(text("SELECT count(*) FROM messages WHERE state = 'new'")).scalar()
                pending = db.execute(text("SELECT count(*) FROM outbox WHERE state = 'pending'")).scalar()
                if not new and not pending:
                    return True, db.execute(text("SELECT count(*) FROM outbox WHERE state = 'sent'")).scalar()
                db.rollback()  # a fresh snapshot for the next look
                time.sleep(0.05)
    finally:
        engine.dispose()
    return False, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--members", type=int, default=5, help="members of the group (posts fan out to them)")
    database_options(parser)
    args = parser.parse_args()
    install = Install('maildir = "outgoing"', postgresql=args.postgresql, processes=args.processes)
    try:
        install.cli("group", "create", "bench", "--policy", "open")
        csv = install.folder / "members.csv"
        csv.write_text("email,name,role,delivery\n" + "".join(
            f"member{i}@example.com,Member {i},member,each\n" for i in range(args.members)))
        install.cli("member", "import", "bench", str(csv))
        install.serve()
        started = time.perf_counter()
        elapsed, latencies = asyncio.run(run(install.ports, args.messages, args.clients))
        drained, copies = wait_drained(install)
        end_to_end = time.perf_counter() - started
        latencies.sort()
        accepted = len(latencies)
        print(f"machine: {machine()}; {describe(install)}")
        print(f"ingest: {accepted} messages from {args.clients} concurrent clients in {elapsed:.2f} s "
              f"= {accepted / elapsed:.0f} messages/s accepted (durable: 250 after commit)")
        print(f"accept latency: p50 {statistics.median(latencies) * 1000:.1f} ms, "
              f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms")
        print(f"end to end: all posts processed and {copies} copies delivered {end_to_end:.2f} s after the "
              f"first post = {accepted / end_to_end:.0f} posts/s" if drained
              else "end to end: queue not drained in time")
        print(f"peak RSS: {show_rss(install.peak_rss_mb())}")
    finally:
        install.close()


if __name__ == "__main__":
    main()
