"""`mailhub held …`: posts waiting for a moderator."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from sqlalchemy import func
from sqlmodel import Session, select

from mailhub.cli.common import ConfigOpt, JsonOpt, message_in, messages_in, one_line, opened, print_rows, when
from mailhub.commands import Verdict
from mailhub.models import Message, Outbox
from mailhub.moderation import decide_held

held_app = typer.Typer(no_args_is_help=True, help="Posts waiting for a moderator.")


def _held(session: Session, message_id: int) -> Message:
    return message_in(session, message_id, "held", "held")


@held_app.command("list")
def held_list(group: Annotated[Optional[str], typer.Argument()] = None, as_json: JsonOpt = False,
              config: ConfigOpt = None) -> None:
    """Posts waiting for a moderator, oldest first."""
    with opened(config) as (_, session):
        rows = [{"id": m.id, "group": name, "from": m.from_addr, "subject": m.subject, "reason": m.reason,
                 "received": when(m.received_at)} for m, name in messages_in(session, "held", group)]
    print_rows(rows, as_json, ["id", "group", "from", "subject", "reason"], "no held posts")


def _decide(message_id: int, verdict: Verdict, config: Optional[Path]) -> tuple[Message, int]:
    with opened(config) as (cfg, session):
        message = _held(session, message_id)
        decide_held(session, cfg, message, verdict, "the command line")
        session.commit()
        queued = session.exec(select(func.count()).select_from(Outbox)
                              .where(Outbox.message_pk == message.id, Outbox.kind == "copy")).one()
    return message, queued


@held_app.command("approve")
def held_approve(message_id: Annotated[int, typer.Argument(metavar="ID")], config: ConfigOpt = None) -> None:
    """Post a held message to its group."""
    _, queued = _decide(message_id, Verdict("approve"), config)
    typer.echo(f"approved message {message_id}: posted, {queued} copies queued")


@held_app.command("reject")
def held_reject(message_id: Annotated[int, typer.Argument(metavar="ID")],
                reason: Annotated[str, typer.Option(help="told to the sender")] = "",
                config: ConfigOpt = None) -> None:
    """Drop a held message and tell the sender why."""
    message, _ = _decide(message_id, Verdict("reject", one_line(reason, "--reason")), config)
    typer.echo(f"rejected message {message_id}; {message.from_addr or 'the sender'} will be told")


@held_app.command("discard")
def held_discard(message_id: Annotated[int, typer.Argument(metavar="ID")], config: ConfigOpt = None) -> None:
    """Drop a held message without telling the sender (spam)."""
    _decide(message_id, Verdict("discard"), config)
    typer.echo(f"discarded message {message_id}")
