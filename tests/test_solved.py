"""Questions marked solved: the topic's starter (or a moderator or owner) replies with the one
word `solved`, or sends `solved KEY`; the reply is not posted, the topic says so in `topics` and
`topic show`, and digests stop asking the group to help with it."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from conftest import DOMAIN, Env, mail, text_of
from mailhub.db import make_engine
from mailhub.models import Message

POST = f"mentors@{DOMAIN}"
REQUEST = f"mentors-request@{DOMAIN}"


@pytest.fixture
def group(env: Env, sink) -> Env:
    env.group("mentors", "ann@example.com", "bea@example.com", "cat@example.com")
    env.cli("member", "add", "mentors", "mod@example.com", "--role", "moderator")
    env.cli("member", "add", "mentors", "mia@example.com", "--role", "mentor", "--delivery", "weekly")
    env.start()
    return env


def topic_json(env: Env) -> dict:
    return json.loads(env.cli("topics", "mentors", "--json").output)[0]


def ask(env: Env, sink, subject: str) -> tuple:
    """ann asks; returns bea's copy and the topic."""
    before = len(sink.to("mod@example.com"))
    env.send(mail(subject=subject, body="How do I price my first product?"), [POST])
    sink.wait("mod@example.com", before + 1)
    return sink.wait("bea@example.com", before + 1)[before], topic_json(env)


def answer_to(sink, address: str, before: int) -> str:
    return text_of(sink.wait(address, before + 1)[before])


def test_only_the_starter_or_a_moderator_marks_a_topic_solved(group, sink):
    copy, topic = ask(group, sink, "Pricing")
    assert topic["solved"] is False

    group.reply(copy, "solved", "bea@example.com")  # not her question
    said = answer_to(sink, "bea@example.com", 1)
    assert "Only the person who started the topic" in said and topic_json(group)["solved"] is False

    group.reply(copy, "Solved!", "ann@example.com")
    said = answer_to(sink, "ann@example.com", 0)
    assert "> solved" in said and 'the topic "Pricing" is marked solved' in said
    assert topic_json(group)["solved"] is True
    shown = json.loads(group.cli("topic", "show", topic["key"], "--json").output)
    assert shown["solved"] is True and shown["solved_by"] == "ann@example.com"
    assert "[solved] Pricing" in group.cli("topics", "mentors").output
    group.drained()
    # The one-word replies were not posted: the others got only the question.
    assert len(sink.to("cat@example.com")) == 1
    with Session(make_engine(group.config.database.url)) as s:
        assert s.exec(select(Message).where(Message.state == "posted")).all().__len__() == 1


def test_a_moderator_marks_it_by_command_and_a_second_time_changes_nothing(group, sink):
    _, topic = ask(group, sink, "Visa question")
    group.send(mail(sender="mod@example.com", to=REQUEST, subject="", body=f"solved {topic['key']}"), [REQUEST],
               mail_from="mod@example.com")
    assert "is marked solved" in answer_to(sink, "mod@example.com", 1)
    group.send(mail(sender="mod@example.com", to=REQUEST, subject="", body=f"solved {topic['key']}"), [REQUEST],
               mail_from="mod@example.com")
    assert "was already marked solved" in answer_to(sink, "mod@example.com", 2)
    group.send(mail(sender="mod@example.com", to=REQUEST, subject="", body="solved"), [REQUEST],
               mail_from="mod@example.com")
    assert "solved TOPIC" in answer_to(sink, "mod@example.com", 3)  # how to write it


def test_digests_mark_solved_topics_and_stop_asking_for_help(group, sink):
    ask(group, sink, "Nobody answered this one")
    ask(group, sink, "Answered by myself")
    solved_key = next(t["key"] for t in json.loads(group.cli("topics", "mentors", "--json").output)
                      if t["subject"] == "Answered by myself")
    group.stop()
    with Session(make_engine(group.config.database.url)) as s:  # as if both had waited three days
        for m in s.exec(select(Message)).all():
            m.posted_at -= timedelta(days=3)
            m.received_at -= timedelta(days=3)
            s.add(m)
        s.commit()
    group.start()
    group.send(mail(sender="ann@example.com", to=REQUEST, subject="", body=f"solved {solved_key}"), [REQUEST])
    sink.wait("ann@example.com")
    digest = group.cli("digest", "preview", "mentors", "mia@example.com").output
    unanswered = digest.split("Unanswered — can you help? ==")[1].split("\n== ")[0]
    assert "Nobody answered this one" in unanswered and "Answered by myself" not in unanswered
    assert "* Answered by myself (solved)" in digest
