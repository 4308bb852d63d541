"""Digest benchmark: a group of 10,000 weekly-digest members with 200 topics and 1,000 messages in
the week. Times the digest run that the scheduler makes (render the shared bodies, record each
member's period, queue one digest each), then builds every member's mail as delivery would
(without sending), and prints seconds and the peak memory of this process.

    .venv/bin/python bench/digest.py [--members 10000] [--topics 200] [--messages 1000] [--zones 1]
"""
from __future__ import annotations

import argparse
import random
import resource
import secrets
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, select

from common import DKIM_SETTINGS, DOMAIN, machine
from mailhub.config import load_config
from mailhub.db import make_engine
from mailhub.deliver import Composer, muted_topics, recipients
from mailhub.digest_jobs import queue_digests
from mailhub.models import Group, Member, Message, Outbox, Topic
from mailhub.signing import Signer

ZONES = ["UTC", "Africa/Nairobi", "America/Bogota", "Asia/Kolkata", "Europe/Berlin", "America/Sao_Paulo",
         "Asia/Manila", "Africa/Lagos"]
WORDS = ("market price customers loan grant stall baskets fabric export bookkeeping mentor week sales "
         "supplier cost margin training radio phone order delivery tax permit savings group").split()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def populate(engine, members: int, topics: int, messages: int, zones: int, now: datetime) -> None:  # noqa: ANN001
    rng = random.Random(5)
    joined = now - timedelta(days=60)
    with Session(engine) as s:
        group = Group(name="mentors", title="Mentors")
        s.add(group)
        s.commit()
        s.execute(insert(Member), [
            {"group_id": group.id, "email": f"member{i}@example.org", "name": f"Member {i}",
             "role": "mentor" if i % 10 == 0 else "member", "delivery": "weekly", "token": secrets.token_urlsafe(16),
             "timezone": ZONES[i % zones] if zones > 1 else None, "created_at": joined}
            for i in range(members)])
        week = now - timedelta(days=7)
        s.execute(insert(Topic), [
            {"group_id": group.id, "key": secrets.token_urlsafe(8), "subject": text(rng, 6)[:-1],
             "subject_key": f"t{i}", "created_at": week, "last_message_at": now, "message_count": 0}
            for i in range(topics)])
        topic_ids = list(s.exec(select(Topic.id)).all())
        rows = []
        for i in range(messages):
            # Every fourth topic started before the week (an active topic); the rest are new.
            topic = topic_ids[i % topics]
            old = i < topics and topic % 4 == 0
            at = now - timedelta(days=9 if old else rng.uniform(0.1, 6.9))
            rows.append({"group_id": group.id, "channel": "post", "rcpt": f"mentors@{DOMAIN}",
                         "message_id": f"{i}@bench", "raw": b"", "state": "posted", "topic_id": topic,
                         "from_addr": f"member{rng.randrange(members)}@example.org",
                         "from_name": f"Member {rng.randrange(members)}", "subject": "", "received_at": at,
                         "posted_at": at, "body_text": "", "new_text": text(rng, rng.randint(30, 250)),
                         "attachments": []})
        s.execute(insert(Message), rows)
        for topic in s.exec(select(Topic)).all():
            topic.message_count = messages // topics
            s.add(topic)
        s.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--topics", type=int, default=200)
    parser.add_argument("--messages", type=int, default=1_000)
    parser.add_argument("--zones", type=int, default=1, help="spread members over this many time zones")
    parser.add_argument("--dkim", action="store_true", help="sign every digest (with the tests' key)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mailhub-bench-digest-"))
    try:
        (folder / "config.toml").write_text(f'[server]\ndomain = "{DOMAIN}"\n[database]\nurl = "sqlite:///m.db"\n'
                                            '[relay]\nmaildir = "out"\n' + (DKIM_SETTINGS if args.dkim else ""))
        config = load_config(folder / "config.toml")
        engine = make_engine(config.database.url, durable=False)
        # The Monday 07:00 UTC digest moment, plus a little: every member's weekly digest is due.
        now = datetime(2026, 11, 23, 7, 30, tzinfo=timezone.utc)
        populate(engine, args.members, args.topics, args.messages, min(args.zones, len(ZONES)), now)
        print(f"{machine()}; {args.members} weekly members, {args.topics} topics, {args.messages} messages "
              f"in the week, {args.zones} time zone(s)")
        print(f"set-up done, peak RSS so far {peak_mb():.0f} MB")
        start = time.perf_counter()
        report = queue_digests(engine, config, now=now)
        queued = time.perf_counter() - start
        print(f"digest run (render shared bodies, record periods, queue): {report.queued} digests in {queued:.2f} s")
        start = time.perf_counter()
        sizes = []
        with Session(engine) as s:
            ids = list(s.exec(select(Outbox.id).where(Outbox.kind == "digest")).all())
            for at in range(0, len(ids), config.delivery.batch_size):
                rows = s.exec(select(Outbox).where(Outbox.id.in_(ids[at:at + config.delivery.batch_size]))).all()
                members = recipients(s, {r.member_id for r in rows}, config.server.language)
                muted = muted_topics(s, set(members))
                composer = Composer(s, config, Signer.from_config(config.dkim))
                sizes.extend(len(composer.job(r, members, muted).wire()) for r in rows)
        built = time.perf_counter() - start
        print(f"building each member's mail as delivery does: {len(sizes)} mails in {built:.2f} s, "
              f"{min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KB each")
        print(f"total {queued + built:.2f} s (target <= 30 s); peak RSS {peak_mb():.0f} MB (target <= 300 MB)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
