"""`mailhub topics GROUP` and `mailhub topic show`: read the archive."""
from __future__ import annotations

import json
from typing import Annotated

import typer

from mailhub.cli.common import (
    MAX_ID,
    ConfigOpt,
    JsonOpt,
    count,
    fail,
    find_group,
    opened,
    print_rows,
    when,
)
from mailhub.cli.conventions import Typer
from mailhub.router import address_for  # which imports only the standard library

topic_app = Typer(help="Read one topic.")


def topics(group: str, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """A group's topics, most recently active first."""
    from sqlmodel import col, select

    from mailhub.models import Topic

    with opened(config) as (cfg, session):
        g = find_group(session, group)
        found = session.exec(select(Topic).where(Topic.group_id == g.id, col(Topic.merged_into).is_(None))
                             .order_by(col(Topic.last_message_at).desc(), col(Topic.id).desc())).all()
        rows = [{"id": t.id, "key": t.key, "subject": t.subject, "messages": t.message_count,
                 "solved": t.solved_at is not None, "last_message": when(t.last_message_at),
                 "created": when(t.created_at),
                 "reply_address": address_for(g.name, cfg.server.domain, token=t.key)} for t in found]
    if not as_json:
        for row in rows:
            row["subject"] = ("[solved] " if row["solved"] else "") + row["subject"]
    print_rows(rows, as_json, ["id", "messages", "last_message", "subject"], f"{g.name} has no topics yet")


@topic_app.command("show", short_help="The messages of one topic, oldest first.")
def topic_show(topic_id: Annotated[str, typer.Argument(metavar="TOPIC_ID")], as_json: JsonOpt = False,
               full: Annotated[bool, typer.Option("--full", help="whole texts, with quotes and signatures")] = False,
               config: ConfigOpt = None) -> None:
    """The messages of one topic, oldest first: what each author wrote, or with --full the whole
    text (TOPIC_ID is the number or the key)."""
    from sqlmodel import select

    from mailhub.models import Group, Message, Topic
    from mailhub.thread import live_topic

    with opened(config) as (cfg, session):
        topic = session.exec(select(Topic).where(Topic.key == topic_id)).first()
        if topic is None and topic_id.isdigit() and int(topic_id) <= MAX_ID:
            topic = session.get(Topic, int(topic_id))
        if topic is None:
            fail(f"no topic '{topic_id}' (see: mailhub topics GROUP)")
        if topic.merged_into is not None:  # its messages now live in the topic it was merged into
            topic = session.get(Topic, live_topic(session, topic.id))
            assert topic is not None
        group = session.get(Group, topic.group_id)
        assert group is not None
        messages = session.exec(select(Message).where(Message.topic_id == topic.id)
                                .order_by(Message.received_at, Message.id)).all()
        doc = {"id": topic.id, "key": topic.key, "group": group.name, "subject": topic.subject,
               "solved": topic.solved_at is not None,
               "solved_at": when(topic.solved_at) if topic.solved_at else None, "solved_by": topic.solved_by,
               "reply_address": address_for(group.name, cfg.server.domain, token=topic.key),
               "messages": [{"id": m.id, "message_id": m.message_id, "from": m.from_addr, "name": m.from_name,
                             "subject": m.subject, "received": when(m.received_at),
                             "text": m.body_text if full else (m.new_text or m.body_text),
                             "attachments": m.attachments}
                            for m in messages]}
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    typer.echo(f"Topic {doc['id']} in {doc['group']}: {doc['subject']}")
    if doc["solved"]:
        typer.echo(f"Solved: {doc['solved_at']} by {doc['solved_by']}")
    typer.echo(f"Reply to: {doc['reply_address']}")
    for m in doc["messages"]:
        author = f"{m['name']} <{m['from']}>" if m["name"] else m["from"]
        typer.echo(f"\n--- #{m['id']} {m['received']} {author}\nSubject: {m['subject']}\n\n{m['text']}")
        for a in m["attachments"]:
            typer.echo(f"[attachment: {a['filename'] or 'unnamed'}, {a['content_type']}, {count(a['size'], 'byte')}]")
