"""Stats benchmark: a group with 100,000 published posts in 5,000 topics over two years by 300
members (some left, some solved topics, a few held posts that do not count), written straight into
a fresh SQLite database. Times `mailhub stats GROUP --by month --json` and `mailhub stats GROUP
--json` as the shell runs them (a new process each, median of --runs), and the in-process
`figures.series` call, beside two baselines measured in the same run: `mailhub group list` on the
same database (the start-up every command pays) and a plain `SELECT count(*)` over the messages.

    .venv/bin/python bench/stats.py [--messages 100000] [--topics 5000] [--members 300] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import random
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, text
from sqlmodel import Session, select

from common import DOMAIN, MAILHUB, machine
from mailhub.config import load_config
from mailhub.db import make_engine
from mailhub.models import Departure, Group, Member, Message, Topic
from mailhub.stats.figures import series

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
DAYS = 730
ROLES = ["member"] * 8 + ["mentor", "moderator"]


def populate(engine, messages: int, topics: int, members: int) -> None:  # noqa: ANN001
    rng = random.Random(21)
    with Session(engine) as s:
        group = Group(name="mentors", title="Mentors", timezone="Africa/Nairobi")
        s.add(group)
        s.commit()
        people = [f"member{i}@example.org" for i in range(members)]
        joined = {p: START + timedelta(days=rng.uniform(0, DAYS / 2)) for p in people}
        gone = set(rng.sample(people, members // 10))  # a tenth have left
        s.execute(insert(Member), [
            {"group_id": group.id, "email": p, "name": p.split("@")[0], "role": rng.choice(ROLES),
             "delivery": rng.choice(["each", "each", "daily", "weekly"]), "token": secrets.token_urlsafe(16),
             "country": rng.choice(["Kenya", "Uganda", "Tanzania", "Colombia", "India", ""]),
             "created_at": joined[p],
             "disabled_at": START + timedelta(days=rng.uniform(DAYS / 2, DAYS)) if rng.random() < 0.03 else None}
            for p in people if p not in gone])
        s.execute(insert(Departure), [
            {"group_id": group.id, "email": p, "role": rng.choice(ROLES), "country": "Kenya", "why": "left",
             "joined_at": joined[p], "left_at": joined[p] + timedelta(days=rng.uniform(10, DAYS / 2))}
            for p in gone])
        starts = sorted(START + timedelta(days=rng.uniform(0, DAYS)) for _ in range(topics))
        s.execute(insert(Topic), [
            {"group_id": group.id, "key": secrets.token_hex(5), "subject": f"Question {i}", "subject_key": f"q{i}",
             "created_at": at, "last_message_at": at, "message_count": 0,
             "solved_at": at + timedelta(days=2) if rng.random() < 0.2 else None}
            for i, at in enumerate(starts)])
        topic_ids = list(s.exec(select(Topic.id).order_by(Topic.id)).all())
        # Every topic gets its first post; the other posts go to topics at random, each some hours
        # after the one before it in that topic.
        last = dict(zip(topic_ids, starts))
        authors = {t: rng.choice(people) for t in topic_ids}
        answered = [t for t in topic_ids if rng.random() < 0.85]  # the rest get no reply at all
        rows = []
        for i in range(messages):
            topic = topic_ids[i] if i < topics else rng.choice(answered)
            if i >= topics:
                last[topic] += timedelta(hours=rng.expovariate(1 / 20))
            author = authors[topic] if i < topics or rng.random() < 0.1 else rng.choice(people)
            held = i >= topics and rng.random() < 0.02
            rows.append({"group_id": group.id, "channel": "post", "rcpt": f"mentors@{DOMAIN}",
                         "message_id": f"{i}@bench", "raw": b"", "state": "held" if held else "posted",
                         "topic_id": topic, "from_addr": author, "from_name": author.split("@")[0],
                         "subject": "", "received_at": last[topic], "posted_at": None if held else last[topic],
                         "body_text": "", "new_text": "", "attachments": []})
        for at in range(0, len(rows), 10_000):
            s.execute(insert(Message), rows[at:at + 10_000])
        s.commit()


def wall(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--topics", type=int, default=5_000)
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each command (the median is shown)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mailhub-bench-stats-"))
    try:
        config_path = folder / "config.toml"
        config_path.write_text(f'[server]\ndomain = "{DOMAIN}"\n[database]\nurl = "sqlite:///{folder / "m.db"}"\n'
                               '[relay]\nmaildir = "out"\n')
        config = load_config(config_path)
        engine = make_engine(config.database.url, durable=False)
        start = time.perf_counter()
        populate(engine, args.messages, args.topics, args.members)
        print(f"{machine()}; {args.messages:,} messages in {args.topics:,} topics by {args.members} members "
              f"over {DAYS} days; written in {time.perf_counter() - start:.1f} s")
        commands = {
            "mailhub group list (start-up baseline)": [MAILHUB, "group", "list", "--config", str(config_path)],
            "mailhub stats mentors --json": [MAILHUB, "stats", "mentors", "--json", "--config", str(config_path)],
            "mailhub stats mentors --by month --json": [MAILHUB, "stats", "mentors", "--by", "month", "--json",
                                                        "--config", str(config_path)],
        }
        for argv in commands.values():
            wall(argv)  # warm-up: file caches, __pycache__
        times: dict[str, list[float]] = {name: [] for name in commands}
        outputs: dict[str, str] = {}
        for _ in range(args.runs):
            for name, argv in commands.items():
                seconds, outputs[name] = wall(argv)
                times[name].append(seconds)
        with Session(engine) as s:
            begun = time.perf_counter()
            count = s.exec(text("SELECT count(*) FROM messages")).one()[0]
            counted = time.perf_counter() - begun
            group = s.exec(select(Group)).one()
            begun = time.perf_counter()
            months = series(s, config, group, None, datetime.now(timezone.utc), "month")
            in_process = time.perf_counter() - begun
        print(f"baseline: SELECT count(*) FROM messages ({count:,}) {counted * 1000:.0f} ms")
        for name in commands:
            spread = f"{min(times[name]):.2f}-{max(times[name]):.2f}"
            print(f"{name:42} {statistics.median(times[name]):6.2f} s  ({spread}, {args.runs} runs)")
        print(f"{'in-process figures.series(..., by month)':42} {in_process:6.2f} s  ({len(months)} months)")
        rows = json.loads(outputs["mailhub stats mentors --by month --json"])
        whole = json.loads(outputs["mailhub stats mentors --json"])[0]
        print(f"figures: {whole['posts']:,} posts, {whole['topics']:,} topics, answer rate {whole['answer_rate']}, "
              f"median first reply {whole['median_first_reply_hours']} h, {whole['members']} members; "
              f"{len(rows)} monthly rows, summing to {sum(r['posts'] for r in rows):,} posts")
        worst = max(statistics.median(t) for name, t in times.items() if name.startswith("mailhub stats"))
        print(f"slowest stats command {worst:.2f} s (target < 5 s): {'met' if worst < 5 else 'NOT met'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
