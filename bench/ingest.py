"""Ingest benchmark: concurrent SMTP clients post 2 KB mails to a running `mailhub serve` over
persistent connections; the group's copies go to a relay sink in its own process.

Prints accepted mails per second, the p50/p99 time from MAIL FROM to the 250 after DATA (a 250
means the mail is committed to the database with fsync), the end-to-end rate (every post
processed and every copy at the relay) and the peak memory of mailhub's processes. With
`--compare-noop` the same client first posts to a no-op aiosmtpd server (the Python ceiling: it
answers 250 and keeps nothing) and then to a fresh mailhub, at 8 and at 20 connections, and
prints both rates and their ratio.

    .venv/bin/python bench/ingest.py --compare-noop
    .venv/bin/python bench/ingest.py --messages 5000 --clients 20
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from dataclasses import dataclass

from sqlalchemy import create_engine, text

from common import DOMAIN, Install, database_options, describe, free_port, machine, show_cpu, show_rss
from relay import Sink

BODY_LINE = "A few words of text, like a short reply from a phone, padded to a typical size.\r\n"


def mail(i: int, group: str) -> bytes:
    """A 2 KB post, each with its own Message-ID, from one of five people outside the (open) group,
    so that every member gets a copy."""
    head = (f"From: Poster {i % 5} <poster{i % 5}@example.net>\r\nTo: {group}@{DOMAIN}\r\n"
            f"Subject: Benchmark message {i}\r\nMessage-ID: <bench-{i}-{time.time_ns()}@example.com>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
    return (head + f"Hello, this is message {i}.\r\n" + BODY_LINE * 23).encode()


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
        body = mail(i, group) + b".\r\n"
        start = time.perf_counter()
        writer.write(f"MAIL FROM:<poster{i % 5}@example.net>\r\n".encode())
        assert await _reply(reader) == 250
        writer.write(f"RCPT TO:<{group}@{DOMAIN}>\r\n".encode())
        assert await _reply(reader) == 250
        writer.write(b"DATA\r\n")
        assert await _reply(reader) == 354
        writer.write(body)
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


@dataclass
class Intake:
    rate: float
    p50: float
    p99: float

    def __str__(self) -> str:
        return f"{self.rate:.0f} mails/s (accept p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms)"


def intake(ports: list[int], messages: int, clients: int) -> Intake:
    elapsed, latencies = asyncio.run(run(ports, messages, clients))
    latencies.sort()
    return Intake(len(latencies) / elapsed, statistics.median(latencies) * 1000,
                  latencies[int(len(latencies) * 0.99) - 1] * 1000)


# ---- the baseline: aiosmtpd with a handler that keeps nothing ------------------------------------

def _noop_server(port: int, ready) -> None:  # noqa: ANN001 - a multiprocessing Event
    from aiosmtpd.controller import Controller

    class Noop:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
            return "250 OK"

    controller = Controller(Noop(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    time.sleep(24 * 3600)


def noop_intake(messages: int, clients: int) -> Intake:
    ctx = multiprocessing.get_context("spawn")
    port, ready = free_port(), ctx.Event()
    proc = ctx.Process(target=_noop_server, args=(port, ready), daemon=True)
    proc.start()
    try:
        ready.wait(20)
        return intake([port], messages, clients)
    finally:
        proc.terminate()
        proc.join(5)


# ---- mailhub ----------------------------------------------------------------------------------------

@dataclass
class Run:
    intake: Intake
    end_to_end: float  # seconds from the first post to the last copy at the relay; 0: not all arrived
    processed: float  # seconds from the first post until every post was processed
    copies: int
    rss: dict[str, float]
    cpu: dict[str, float]


def mailhub_run(sink: Sink, args: argparse.Namespace, clients: int) -> tuple[Install, Run]:
    sink.reset()
    install = Install(sink.relay_settings(), postgresql=args.postgresql, processes=args.processes)
    install.cli("group", "create", "bench", "--policy", "open")
    csv = install.folder / "members.csv"
    csv.write_text("email,name,role,delivery\n" + "".join(
        f"member{i}@example.com,Member {i},member,each\n" for i in range(args.members)))
    install.cli("member", "import", "bench", str(csv))
    install.serve()
    started = time.perf_counter()
    taken = intake(install.ports, args.messages, clients)
    want = (args.messages // clients * clients) * args.members
    processed = processed_after(install, started, args.timeout)
    sink.wait_for(want, args.timeout - (time.perf_counter() - started))
    end = time.perf_counter() - started
    return install, Run(taken, end if sink.count >= want else 0.0, processed, sink.count, install.peak_rss_mb(),
                        install.cpu_seconds())


def processed_after(install: Install, started: float, timeout: float) -> float:
    """Seconds from `started` until no stored mail waits for processing (a read-only peek)."""
    engine = create_engine(install.database_url)
    try:
        with engine.connect() as db:
            while time.perf_counter() - started < timeout:
                if not db.execute(text("SELECT count(*) FROM messages WHERE state = 'new'")).scalar():
                    break
                db.rollback()  # a fresh snapshot for the next look
                time.sleep(0.05)
    finally:
        engine.dispose()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20, help="concurrent persistent connections")
    parser.add_argument("--members", type=int, default=5, help="members of the group (posts fan out to them)")
    parser.add_argument("--compare-noop", action="store_true",
                        help="also post to a no-op aiosmtpd server, at 8 and 20 connections")
    parser.add_argument("--timeout", type=float, default=300)
    database_options(parser)
    args = parser.parse_args()
    sink = Sink()
    try:
        print(f"machine: {machine()}; {args.messages} mails of 2 KB, a group of {args.members}, "
              "copies to an SMTP relay sink")
        for clients in ((8, 20) if args.compare_noop else (args.clients,)):
            baseline = noop_intake(args.messages, clients) if args.compare_noop else None
            install, run_ = mailhub_run(sink, args, clients)
            try:
                print(f"\n{clients} connections; mailhub: {describe(install)}")
                if baseline is not None:
                    print(f"  no-op aiosmtpd: {baseline}")
                print(f"  mailhub intake (durable: 250 after commit): {run_.intake}")
                if baseline is not None:
                    print(f"  ratio mailhub / no-op: {run_.intake.rate / baseline.rate:.2f} (target >= 0.7)")
                if run_.end_to_end:
                    print(f"  end to end: {args.messages} posts processed and {run_.copies} copies at the relay "
                          f"{run_.end_to_end:.2f} s after the first post = {args.messages / run_.end_to_end:.0f} "
                          "posts/s (target >= 300); "
                          f"all processed after {run_.processed:.2f} s")
                else:
                    print(f"  end to end: only {run_.copies} copies at the relay after {args.timeout:.0f} s")
                print(f"  peak RSS: {show_rss(run_.rss)} (target: sum <= 150 MB)")
                print(f"  CPU used: {show_cpu(run_.cpu)}")
            finally:
                install.close()
    finally:
        sink.close()


if __name__ == "__main__":
    main()
