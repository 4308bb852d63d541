"""Threading over real SMTP: malformed headers, Outlook's Thread-Index, parents that come late."""
from __future__ import annotations

import base64
import json
from pathlib import Path

from conftest import DOMAIN, mail, wait_for
from mailhub.parse import message_ids

DATA = Path(__file__).parent / "data" / "threading"
POST = f"mentors@{DOMAIN}"


def topics(env) -> list[dict]:
    return json.loads(env.cli("topics", "mentors", "--json").output)


def topic_of(env, message_id: str) -> int:
    for t in topics(env):
        shown = json.loads(env.cli("topic", "show", str(t["id"]), "--json").output)
        if message_id in [m["message_id"] for m in shown["messages"]]:
            return t["id"]
    raise AssertionError(f"{message_id} is in no topic")


def processed(env, count: int) -> None:
    wait_for(lambda: sum(t["messages"] for t in topics(env)) == count, what=f"{count} threaded messages")


def test_malformed_message_ids_are_all_read():
    assert message_ids("<a@x> <b@x>") == ("a@x", "b@x")
    assert message_ids("a@x") == ("a@x",)  # no angle brackets
    assert message_ids("a@x, b@x (the parent)") == ("a@x", "b@x")
    assert message_ids("<a@x> (comment <not@an.id>)") == ("a@x", "not@an.id")


def test_every_references_header_and_id_is_used(env):
    """A real message with two References headers, one id broken over a line."""
    env.group("mentors", policy="open")
    env.start()
    env.send(mail(subject="Root", message_id="<baz@bar.net>"), [POST])
    processed(env, 1)
    env.send((DATA / "multiple_references_with_one_invalid.eml").read_bytes(), [POST])
    processed(env, 2)
    assert topic_of(env, "105647271315.NCV17523@x263.net") == topic_of(env, "baz@bar.net")


def test_references_reach_a_grandparent_when_the_parent_is_missing(env):
    env.group("mentors", policy="open")
    env.start()
    env.send(mail(subject="Visa questions", message_id="<root@example.com>"), [POST])
    env.send(mail(subject="my answer", message_id="<child@example.com>",
                  headers="In-Reply-To: <never-arrived@example.com>\r\n"
                          "References: <root@example.com> <never-arrived@example.com>\r\n"), [POST])
    processed(env, 2)
    assert len(topics(env)) == 1


def test_outlook_thread_index_threads_a_reply_without_references(env):
    env.group("mentors", policy="open")
    env.start()
    original = (DATA / "header_fields_with_empty_values.eml").read_bytes()
    env.send(original, [POST])
    processed(env, 1)
    # Outlook appends 5 bytes per reply to the conversation's 22-byte Thread-Index.
    index = base64.b64encode(base64.b64decode("AcpZlFLF/Y9EfcC0QZKKEuUFm2Snqw==") + b"\x00\x01\x02\x03\x04").decode()
    env.send(mail(subject="Another question", message_id="<outlook-reply@example.com>",
                  headers=f"Thread-Index: {index}\r\n"), [POST])
    processed(env, 2)
    assert topic_of(env, "outlook-reply@example.com") == topic_of(
        env, "4FDC124A-1FC4-4B29-8502-E459BD9AB397@prikkprikkprikk.no")


def test_a_reply_that_arrives_before_its_parent_ends_up_in_the_parents_topic(env):
    env.group("mentors", policy="open")
    env.start()
    env.send(mail(subject="Re: Market day", message_id="<early-reply@example.com>",
                  headers="In-Reply-To: <late-parent@example.com>\r\n"), [POST])
    processed(env, 1)
    orphan_key = topics(env)[0]["key"]
    env.send(mail(subject="Market day", message_id="<late-parent@example.com>"), [POST])
    processed(env, 2)
    [topic] = topics(env)
    assert topic["messages"] == 2 and topic["subject"] == "Market day"
    # Replies to the orphan topic's address (already in people's inboxes) still land here.
    env.send(mail(subject="me too", message_id="<third@example.com>", to=f"mentors+{orphan_key}@{DOMAIN}"),
             [f"mentors+{orphan_key}@{DOMAIN}"])
    processed(env, 3)
    assert [t["messages"] for t in topics(env)] == [3]


def test_a_held_parent_approved_later_joins_the_replies_made_meanwhile(env):
    env.group("mentors", "bea@example.com")
    env.start()
    env.send(mail(sender="zed@example.net", subject="Looking for a mentor", message_id="<held@example.net>"),
             [POST], mail_from="zed@example.net")
    held = wait_for(lambda: json.loads(env.cli("held", "list", "--json").output))
    # Bea saw the post elsewhere (it was addressed to her too) and answered before approval.
    env.send(mail(sender="bea@example.com", subject="Re: Looking for a mentor", message_id="<bea@example.com>",
                  headers="In-Reply-To: <held@example.net>\r\n"), [POST], mail_from="bea@example.com")
    processed(env, 1)
    env.cli("held", "approve", str(held[0]["id"]))
    [topic] = topics(env)
    assert topic["messages"] == 2 and topic["subject"] == "Looking for a mentor"


def test_topic_show_gives_the_new_words_and_full_gives_everything(env):
    env.group("mentors", policy="open")
    env.start()
    env.send(mail(subject="Pricing", body="How do you price a first product?", message_id="<q@example.com>"), [POST])
    reply = ("Start from your costs, then ask three customers.\r\n\r\n"
             "On Mon, 23 Nov 2026 at 10:00, Ann <ann@example.com> wrote:\r\n"
             "> How do you price a first product?\r\n\r\n-- \r\nBea, mentor since 2019\r\n")
    env.send(mail(sender="bea@example.com", subject="Re: Pricing", body=reply, message_id="<a@example.com>",
                  headers="In-Reply-To: <q@example.com>\r\n"), [POST], mail_from="bea@example.com")
    processed(env, 2)
    topic = topics(env)[0]["id"]
    short = json.loads(env.cli("topic", "show", str(topic), "--json").output)["messages"][1]["text"]
    assert short == "Start from your costs, then ask three customers."
    full = json.loads(env.cli("topic", "show", str(topic), "--json", "--full").output)["messages"][1]["text"]
    assert "wrote:" in full and "mentor since 2019" in full
    printed = env.cli("topic", "show", str(topic)).output
    assert "ask three customers" in printed and "mentor since 2019" not in printed


def test_attachments_are_listed_by_name_type_and_size_not_inlined(env):
    env.group("mentors", policy="open")
    env.start()
    env.send((Path(__file__).parent / "data" / "mime" / "attachment_pdf.eml").read_bytes(), [POST])
    processed(env, 1)
    shown = json.loads(env.cli("topic", "show", str(topics(env)[0]["id"]), "--json").output)
    [message] = shown["messages"]
    assert [a["content_type"] for a in message["attachments"]] == ["application/pdf"]
    assert message["attachments"][0]["size"] > 0 and message["attachments"][0]["filename"].endswith(".pdf")
    assert "%PDF" not in message["text"]
    assert "[attachment: " in env.cli("topic", "show", str(topics(env)[0]["id"])).output
