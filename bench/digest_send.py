"""Signed digests at the relay: a running `mailhub serve` with DKIM on sends 10,000 weekly
digests (~150 KB each: 200 topics, 1,000 messages in the week) to a relay sink, and while they go
out a post to another group must reach its members quickly (posts and notices go before digests).

Prints the seconds from the start of `serve` (whose scheduler finds the digests due) to the last
digest at the relay, the seconds from the post's 250 to its last copy at the relay, and the peak
memory of mailhub's processes. With `--compare-plain`, first, to the same sink: a plain smtplib
sender pushing as many pre-built mails of the same size over 4 connections.

    .venv/bin/python bench/digest_send.py --compare-plain
"""
from __future__ import annotations

import argparse
import smtplib
import time
from datetime import datetime, timezone

from common import DKIM_SETTINGS, DOMAIN, Install, machine, show_cpu, show_rss
from digest import populate
from mailhub.db import make_engine
from mailhub.schedule import digest_schedule
from relay import Sink, plain_send

MARK = "Venue-changed-4711"  # in the post's subject: the sink counts its copies apart from digests
NEWS_MEMBERS = 5


def digest_sized_mail(size: int) -> bytes:
    line = b"A line of a weekly digest: who asked what, who answered, and the links to reply.\r\n"
    return (f"From: mentors@{DOMAIN}\r\nTo: member@example.org\r\nSubject: Weekly digest\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n").encode() + line * (size // len(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--post-after", type=float, default=0.25,
                        help="post when this share of the digests is at the relay")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--compare-plain", action="store_true", help="also a plain smtplib sender, first")
    args = parser.parse_args()
    sink = Sink(marker=MARK.encode())
    install = Install(sink.relay_settings(), DKIM_SETTINGS)
    try:
        print(f"machine: {machine()}; {args.members} weekly digests, DKIM-signed, to an SMTP relay sink")
        if args.compare_plain:
            data = digest_sized_mail(152 * 1024)
            mails = [(f"mentors-bounces@{DOMAIN}", f"member{i}@example.org", data) for i in range(args.members)]
            plain = plain_send(sink.port, mails)
            print(f"plain smtplib, {len(mails)} pre-built unsigned mails of {len(data) // 1024} KB over 4 "
                  f"connections: {sink.count} at the relay in {plain:.2f} s")
            sink.reset()
        install.cli("group", "create", "news", "--policy", "open")
        csv = install.folder / "news.csv"
        csv.write_text("email,name,role,delivery\n" + "".join(
            f"reader{i}@example.com,Reader {i},member,each\n" for i in range(NEWS_MEMBERS)))
        install.cli("member", "import", "news", str(csv))
        # The week that ended at the last weekly digest moment (config.toml's default, Monday 07:00 UTC).
        now = datetime.now(timezone.utc)
        due = digest_schedule("weekly", "07:00", "mon 07:00", "UTC").last_due(now)  # type: ignore[union-attr]
        engine = make_engine(install.database_url, durable=False)
        populate(engine, args.members, 200, 1000, 1, due)
        engine.dispose()
        install.serve()
        start = time.perf_counter()
        sink.wait_for(int(args.members * args.post_after), args.timeout)
        with smtplib.SMTP("127.0.0.1", install.port) as smtp:
            smtp.sendmail("ann@example.com", [f"news@{DOMAIN}"],
                          (f"From: Ann <ann@example.com>\r\nTo: news@{DOMAIN}\r\nSubject: {MARK}: room 4 today\r\n"
                           f"Message-ID: <digest-bench-{time.time_ns()}@example.com>\r\n\r\n"
                           "The meeting is in room 4 today.\r\n").encode())
        posted, at = time.perf_counter(), sink.count
        reached = total = 0.0
        while not (reached and total) and time.perf_counter() - start < args.timeout:
            if not reached and sink.marked >= NEWS_MEMBERS:
                reached = time.perf_counter() - posted
            if not total and sink.count - sink.marked >= args.members:
                total = time.perf_counter() - start
            time.sleep(0.01)
        digests = sink.count - sink.marked
        print(f"mailhub: {digests} of {args.members} digests at the relay " + (
            f"{total:.2f} s after serve started" if total else f"after {args.timeout:.0f} s") + " (target <= 60 s)")
        print(f"  a post made when {at} digests were at the relay: {sink.marked} of its {NEWS_MEMBERS} copies there "
              + (f"after {reached:.2f} s" if reached else "at the end") + " (target <= 5 s)")
        print(f"  peak RSS: {show_rss(install.peak_rss_mb())} (target: sum <= 150 MB)")
        print(f"  CPU used: {show_cpu(install.cpu_seconds())}")
    finally:
        install.close()
        sink.close()


if __name__ == "__main__":
    main()
