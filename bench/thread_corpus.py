"""Threading benchmark (run it as `bench/threading.py CORPUS`): run a corpus of real mail (an mbox, a Maildir or a folder of .eml files)
through mailhub's real processing and threading code, in corpus order, and print how many
replies landed in their parent's topic; then again with In-Reply-To/References removed from
every message, so only subjects and Thread-Index can place them; then the quote-stripping score.

    .venv/bin/python bench/threading.py tests/data/threading/lkml.mbox
"""
from __future__ import annotations

import os

HERE = os.path.dirname(os.path.abspath(__file__))

import argparse
import email
import importlib.util
import mailbox
import re
import tempfile
from collections import Counter
from email.policy import compat32
from pathlib import Path

from sqlmodel import Session, select

from mailhub.config import Config, parse_config
from mailhub.db import make_engine
from mailhub.models import Group, Message
from mailhub.parse import decode_header, message_ids
from mailhub.process import process_pending
from mailhub.store import Incoming, insert_incoming
from mailhub.thread import live_topic, strip_prefixes

DOMAIN = "bench.example.org"


def load(corpus: Path) -> list[bytes]:
    if corpus.is_file():
        return [m.as_bytes() for m in mailbox.mbox(str(corpus))]
    if (corpus / "cur").is_dir() or (corpus / "new").is_dir():
        return [m.as_bytes() for m in mailbox.Maildir(str(corpus), create=False)]
    return [p.read_bytes() for p in sorted(corpus.iterdir()) if p.is_file()]


def says_reply(raw: bytes) -> bool:
    """Whether the subject carries a reply/forward prefix: what a person's reply looks like, as
    opposed to e.g. the parts of a patch series sent 'in reply to' their cover letter."""
    subject = decode_header(email.message_from_bytes(raw, policy=compat32).get("Subject"))
    return strip_prefixes(subject, "")[1]


def header_ids(raw: bytes) -> tuple[str, str, list[str]]:
    """(Message-ID, parent id, every id named) of one raw message."""
    msg = email.message_from_bytes(raw, policy=compat32)
    own = next(iter(message_ids(msg.get("Message-ID"))), "")
    refs = list(message_ids(msg.get("References")))
    reply_to = list(message_ids(msg.get("In-Reply-To")))
    parent = reply_to[0] if reply_to else (refs[-1] if refs else "")
    return own, parent, refs + reply_to


def without_headers(raw: bytes, names: bytes) -> bytes:
    head, sep, body = raw.partition(b"\n\n")
    lines = re.split(rb"\n(?![ \t])", head)  # header fields with their folded lines
    kept = [line for line in lines if not re.match(rb"(?i)(%s):" % names, line)]
    return b"\n".join(kept) + sep + body


def as_posted(raw: bytes) -> bytes:
    """An archived list message as its author sent it: without the marks the old list added,
    which mailhub's loop and bulk-mail rules would rightly discard."""
    return without_headers(raw, rb"precedence|list-id|auto-submitted")


def strip_threading_headers(raw: bytes) -> bytes:
    return without_headers(raw, rb"in-reply-to|references")


def thread(messages: list[bytes], folder: Path) -> dict[str, int]:
    """Message-ID -> topic id, after processing every message through the real code."""
    config: Config = parse_config({"server": {"domain": DOMAIN}, "database": {"url": "sqlite:///mailhub.db"},
                                   "relay": {"maildir": "out"}}, folder)
    engine = make_engine(config.database.url, durable=False)
    with Session(engine) as session:
        group = Group(name="corpus", policy="open")
        session.add(group)
        session.commit()
        insert_incoming(session, [Incoming(group.id, "post", None, f"corpus@{DOMAIN}", "sender@example.com", raw)
                                  for raw in messages], DOMAIN)
        session.commit()
    while process_pending(engine, config, limit=200):
        pass
    with Session(engine) as session:
        rows = session.exec(select(Message.message_id, Message.topic_id)).all()
        return {mid: live_topic(session, tid) for mid, tid in rows if tid is not None}


def conversations(ids: list[tuple[str, str, list[str]]]) -> dict[str, str]:
    """The true conversation of each message: connected through the ids it names (union-find)."""
    parent_of: dict[str, str] = {}

    def root(x: str) -> str:
        while parent_of.get(x, x) != x:
            x = parent_of[x]
        return x

    present = {own for own, _, _ in ids}
    for own, _, named in ids:
        parent_of.setdefault(own, own)
        for other in named:
            if other in present:
                parent_of[root(own)] = root(other)
    return {own: root(own) for own, _, _ in ids}


def score_placement(ids: list[tuple[str, str, list[str]]], topics: dict[str, int],
                    only: set[str] | None = None) -> tuple[int, int, int, int]:
    """(replies in parent's topic, replies with parent present, messages wrongly merged, messages);
    `only` limits the replies counted."""
    right = total = 0
    for own, parent, _ in ids:
        if parent and parent in topics and own in topics and (only is None or own in only):
            total += 1
            right += topics[own] == topics[parent]
    truth = conversations(ids)
    # A topic belongs to the conversation most of its messages come from; the others were merged wrongly.
    by_topic: dict[int, Counter] = {}
    for own, _, _ in ids:
        if own in topics:
            by_topic.setdefault(topics[own], Counter())[truth[own]] += 1
    wrong = sum(sum(c.values()) - max(c.values()) for c in by_topic.values())
    return right, total, wrong, len(topics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    args = parser.parse_args()
    messages = [as_posted(raw) for raw in load(args.corpus)]
    ids = [header_ids(raw) for raw in messages]
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        right, total, wrong, n = score_placement(ids, thread(messages, Path(a)))
        print(f"with headers: {right}/{total} replies whose parent is in the corpus landed in the parent's topic "
              f"({100 * right / max(total, 1):.1f}%); {wrong}/{n} messages in a topic of another conversation")
        stripped = [strip_threading_headers(raw) for raw in messages]
        topics = thread(stripped, Path(b))
        right, total, wrong, n = score_placement(ids, topics)
        print(f"headers removed (subject and Thread-Index only): {right}/{total} messages with a parent in the "
              f"corpus in the parent's topic ({100 * right / max(total, 1):.1f}%); {wrong}/{n} messages wrongly "
              f"merged into an unrelated topic ({100 * wrong / max(n, 1):.1f}%)")
        replies = {own for (own, _, _), raw in zip(ids, messages) if says_reply(raw)}
        right, total, _, _ = score_placement(ids, topics, only=replies)
        print(f"  of which replies whose subject says so (Re:, AW:, …): {right}/{total} in the parent's topic "
              f"({100 * right / max(total, 1):.1f}%)")
    spec = importlib.util.spec_from_file_location("quote_score", os.path.join(HERE, "quote_score.py"))
    if spec is None or spec.loader is None or not os.path.exists(os.path.join(HERE, "quote_score.py")):
        return
    quote_score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quote_score)
    exact, fixtures = quote_score.score()
    print(f"quote stripping: {exact}/{fixtures} fixtures exact ({100 * exact / max(fixtures, 1):.0f}%)")


if __name__ == "__main__":
    main()
