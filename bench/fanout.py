"""Fan-out benchmark: one post to a group of N members (default 10,000), delivered through a
real SMTP relay (a sink in its own process, bench/relay.py). Prints recipients per second from
the 250 of the post to the last copy at the relay, and the peak memory of mailhub.

With `--compare-plain`, in the same run and to the same sink: a plain smtplib sender pushing N
pre-built copies of the same post (each with its member's unsubscribe lines) over 4 connections,
then mailhub unsigned, then mailhub with every copy DKIM-signed; it prints the three times and
their ratios.

    .venv/bin/python bench/fanout.py --compare-plain
    .venv/bin/python bench/fanout.py --members 10000 [--dkim]
"""
from __future__ import annotations

import argparse
import secrets
import smtplib
import time
from datetime import datetime, timezone

from common import DKIM_SETTINGS, DOMAIN, Install, database_options, describe, machine, show_cpu, show_rss
from relay import Sink, plain_send

POST = (f"From: Author <author@example.com>\r\nTo: big@{DOMAIN}\r\nSubject: News for everyone\r\n"
        "Message-ID: <fanout-{stamp}@example.com>\r\n\r\n"
        "Dear all,\r\n\r\nThe spring programme opens on Monday. Please reply with your availability.\r\n")


def mailhub_fanout(sink: Sink, args: argparse.Namespace, dkim: bool) -> float:
    sink.reset()
    install = Install(sink.relay_settings(), DKIM_SETTINGS if dkim else "", postgresql=args.postgresql,
                      processes=args.processes)
    try:
        install.cli("group", "create", "big")
        csv = install.folder / "members.csv"
        csv.write_text("email,name,role,delivery\nauthor@example.com,Author,owner,each\n" + "".join(
            f"member{i}@example.org,Member {i},member,each\n" for i in range(args.members)))
        install.cli("member", "import", "big", str(csv))
        install.serve()
        with smtplib.SMTP("127.0.0.1", install.port) as smtp:
            smtp.sendmail("author@example.com", [f"big@{DOMAIN}"], POST.format(stamp=time.time_ns()).encode())
        start = time.perf_counter()
        first = None
        while sink.count < args.members and time.perf_counter() - start < args.timeout:
            if first is None and sink.count:
                first = time.perf_counter() - start
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        print(f"mailhub, DKIM signing {'on' if dkim else 'off'} ({describe(install)}): {sink.count} of "
              f"{args.members} copies at the relay in {elapsed:.2f} s = {sink.count / elapsed:.0f} recipients/s "
              f"(first copy after {first or 0:.2f} s)")
        print(f"  peak RSS: {show_rss(install.peak_rss_mb())} (target: sum <= 150 MB)")
        print(f"  CPU used: {show_cpu(install.cpu_seconds())}")
        return elapsed
    finally:
        install.close()


def prebuilt(members: int) -> list[tuple[str, str, bytes]]:
    """The copies a script would send: the post as mailhub builds its list copy, with each member's
    own unsubscribe lines, made before the clock starts."""
    from mailhub.compose import ListInfo, build_copy
    from mailhub.config import REPO_TEMPLATES

    info = ListInfo(name="big", title="", domain=DOMAIN, prefix="[big]", from_rewrite=True, topic_key="k3f9a2",
                    message_id="fanout@example.com", received_at=datetime.now(timezone.utc))
    copy = build_copy(POST.format(stamp=0).encode(), info, REPO_TEMPLATES)
    mails = []
    for i in range(members):
        token = secrets.token_urlsafe(16)
        data = copy.for_recipient(f"big-leave+{token}@{DOMAIN}")
        mails.append((f"big-bounces+{token}@{DOMAIN}", f"member{i}@example.org", data))
    return mails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--dkim", action="store_true", help="sign every copy (with the tests' key)")
    parser.add_argument("--compare-plain", action="store_true",
                        help="a plain smtplib sender, mailhub unsigned and mailhub signed, in one run")
    database_options(parser)
    args = parser.parse_args()
    sink = Sink()
    try:
        print(f"machine: {machine()}; one post to {args.members} members")
        if not args.compare_plain:
            mailhub_fanout(sink, args, args.dkim)
            return
        mails = prebuilt(args.members)
        plain = plain_send(sink.port, mails)
        print(f"plain smtplib, {len(mails)} pre-built copies of {len(mails[0][2])} bytes over 4 connections: "
              f"{sink.count} at the relay in {plain:.2f} s = {sink.count / plain:.0f} recipients/s")
        unsigned = mailhub_fanout(sink, args, dkim=False)
        signed = mailhub_fanout(sink, args, dkim=True)
        print(f"mailhub unsigned / plain: {unsigned / plain:.2f} (target <= 1.0); "
              f"signed / unsigned: {signed / unsigned:.2f} (target <= 1.5)")
    finally:
        sink.close()


if __name__ == "__main__":
    main()
