"""Fan-out benchmark: one post to a group of N members (default 10,000), delivered through a
real SMTP relay (an aiosmtpd sink in its own process). Prints recipients per second from the
250 of the post to the last copy at the relay, and the peak memory of mailhub.

    .venv/bin/python bench/fanout.py --members 10000
"""
from __future__ import annotations

import argparse
import multiprocessing
import smtplib
import time

from common import DKIM_SETTINGS, DOMAIN, Install, database_options, describe, free_port, machine, show_rss


def sink(port: int, count, ready) -> None:  # noqa: ANN001 - multiprocessing shared values
    import asyncio

    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
            with count.get_lock():
                count.value += len(envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    asyncio.run(asyncio.sleep(3600))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--dkim", action="store_true", help="sign every copy (with the tests' key)")
    database_options(parser)
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    count, ready = ctx.Value("l", 0), ctx.Event()
    relay_port = free_port()
    relay = ctx.Process(target=sink, args=(relay_port, count, ready), daemon=True)
    relay.start()
    ready.wait(20)
    install = Install(f'host = "127.0.0.1"\nport = {relay_port}', DKIM_SETTINGS if args.dkim else "",
                      postgresql=args.postgresql, processes=args.processes)
    try:
        install.cli("group", "create", "big")
        csv = install.folder / "members.csv"
        csv.write_text("email,name,role,delivery\nauthor@example.com,Author,owner,each\n" + "".join(
            f"member{i}@example.org,Member {i},member,each\n" for i in range(args.members)))
        install.cli("member", "import", "big", str(csv))
        install.serve()
        post = (f"From: Author <author@example.com>\r\nTo: big@{DOMAIN}\r\nSubject: News for everyone\r\n"
                f"Message-ID: <fanout-{time.time_ns()}@example.com>\r\n\r\n"
                "Dear all,\r\n\r\nThe spring programme opens on Monday. Please reply with your availability.\r\n")
        with smtplib.SMTP("127.0.0.1", install.port) as smtp:
            smtp.sendmail("author@example.com", [f"big@{DOMAIN}"], post.encode())
        start = time.perf_counter()
        first = None
        while count.value < args.members and time.perf_counter() - start < args.timeout:
            if first is None and count.value:
                first = time.perf_counter() - start
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        peaks = install.peak_rss_mb()
        print(f"machine: {machine()}; {describe(install)}; DKIM signing {'on' if args.dkim else 'off'}")
        print(f"fan-out: {count.value} of {args.members} copies at the relay in {elapsed:.2f} s "
              f"= {count.value / elapsed:.0f} recipients/s (first copy after {first or 0:.2f} s)")
        print(f"peak RSS: {show_rss(peaks)}")
    finally:
        install.close()
        relay.terminate()


if __name__ == "__main__":
    main()
