"""The digest body without a server: rendering, the size budget, and each reader's mail."""
from __future__ import annotations

import email
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from mailhub.config import REPO_TEMPLATES, DigestConfig
from mailhub.digest import (Activity, NewMember, Post, Reader, TopicActivity, bodies, compose, fit, prepare,
                            render)
from mailhub.models import Group

END = datetime(2026, 11, 23, 7, tzinfo=timezone.utc)
ZONE = ZoneInfo("Africa/Nairobi")


def topic(i: int, text: str, new: bool = True, posts: int = 2) -> TopicActivity:
    return TopicActivity(i, f"key{i}", f"Topic {i}: {text[:20]}", "Ann", posts + 3,
                         tuple(Post(f"Author {j}", END - timedelta(days=5), text) for j in range(posts)), new,
                         END - timedelta(days=6), END - timedelta(days=1))


def rendered(topics: list[TopicActivity], settings: DigestConfig = DigestConfig(), unanswered=()):  # noqa: ANN001, B008
    activity = Activity(topics=topics, unanswered=list(unanswered), members=[NewMember("Bea", "Bakery", "Ghana")],
                        replies=len(topics), new_topics=len(topics))
    return render(REPO_TEMPLATES, Group(id=1, name="mentors"), "lists.example.org", "weekly",
                  END - timedelta(days=7), END, ZONE, activity, settings)


def decoded(data: bytes) -> dict[str, str]:
    msg = email.message_from_bytes(data)
    return {p.get_content_type(): p.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n")
            for p in msg.walk() if p.get_content_maintype() == "text"}


@pytest.mark.parametrize("text", [
    "Prices at the market went up; try selling at the café = more margin. " * 4,  # quoted-printable
    "Цены на рынке выросли, попробуйте продавать в кафе. " * 4,  # mostly Cyrillic: base64
])
def test_each_readers_mail_is_the_shared_body_with_their_own_greeting_and_footer(text):
    body = rendered([topic(1, text), topic(2, text, new=False)])
    reader = Reader(7, "ann@example.com", "Ann", "member", "tok7", False)
    data = compose(REPO_TEMPLATES, 3, body.subject, prepare(body.parts), reader)
    assert decoded(data) == dict(zip(("text/plain", "text/html"), bodies(REPO_TEMPLATES, body.parts, reader,
                                                                         frozenset())))
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert "Hello Ann," in decoded(data)["text/plain"] and "mentors-leave+tok7@" in decoded(data)["text/plain"]


def test_a_muted_topic_is_left_out_of_that_readers_mail_only():
    body = rendered([topic(1, "Fabric suppliers in Kumasi"), topic(2, "Radio adverts that worked")])
    prepared = prepare(body.parts)
    ann = Reader(7, "ann@example.com", "Ann", "member", "tok7", True)
    bea = Reader(8, "bea@example.com", "Bea", "member", "tok8", True)
    muted = decoded(compose(REPO_TEMPLATES, 3, body.subject, prepared, ann, frozenset({1})))["text/plain"]
    full = decoded(compose(REPO_TEMPLATES, 3, body.subject, prepared, bea))["text/plain"]
    assert "Fabric suppliers" not in muted and "Radio adverts" in muted
    assert "Fabric suppliers" in full


def test_over_the_budget_the_rest_is_listed_by_subject_with_get():
    settings = DigestConfig(text_budget=6000, html_budget=9000)
    topics = [topic(i, f"Long question number {i} about export paperwork and tariffs. " * 8) for i in range(40)]
    body = rendered(topics, settings)
    text, html = bodies(REPO_TEMPLATES, body.parts, Reader(1, "a@example.com", "A" * 100, "member", "t" * 22, False),
                        frozenset())
    assert len(text.encode()) <= 6000 and len(html.encode()) <= 9000
    shown, listed = text.split("== More topics ==")
    full = [t for t in topics if f"* {t.subject}" in shown]
    named = [t for t in topics if f"get {t.key}\n" in listed]
    assert full == topics[:len(full)] and named == topics[len(full):len(full) + len(named)]  # in order
    assert full and named
    unnamed = len(topics) - len(full) - len(named)
    assert unnamed and f"…and {unnamed} more topics" in listed


def test_fit_keeps_room_to_list_the_rest():
    # Ten topics of 100 bytes (lines of 10) in a room of 500: full ones stop while the rest can be listed.
    assert fit([(100, 100)] * 10, [(10, 10)] * 10, (500, 500)) == (4, 6)
    assert fit([(100, 100)] * 3, [(10, 10)] * 3, (500, 500)) == (3, 0)
    assert fit([(100, 100)] * 10, [(10, 10)] * 10, (500, 150)) == (1, 5)  # the tighter budget decides
    assert fit([(100, 100)] * 100, [(10, 10)] * 100, (300, 300)) == (2, 10)  # the list is cut too


def test_the_summary_counts_what_happened():
    body = rendered([topic(1, "Hi"), topic(2, "Hello")])
    assert body.subject == "[mentors] Weekly digest: 2 new topics, 2 replies, 1 new member"
    text = bodies(REPO_TEMPLATES, body.parts, Reader(1, "a@example.com", "", "member", "t", False), frozenset())[0]
    assert text.startswith("Hello,\n\nmentors since Mon, Nov 16 10:00 (times in Africa/Nairobi)")
    assert "- Bea, Bakery (Ghana)" in text
