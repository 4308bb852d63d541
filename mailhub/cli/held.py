"""`mailhub held …`: posts waiting for a moderator."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Optional

import typer

from mailhub.cli.common import ConfigOpt, JsonOpt, count, message_in, messages_in, one_line, opened, print_rows, when
from mailhub.cli.conventions import Typer

if TYPE_CHECKING:
    from sqlmodel import Session

    from mailhub.models import Message

held_app = Typer(help="Posts waiting for a moderator: list, approve, reject, discard.")
IdArg = Annotated[int, typer.Argument(metavar="ID")]


def _held(session: Session, message_id: int) -> Message:
    return message_in(session, message_id, "held", "held")


@held_app.command("list")
def held_list(group: Annotated[Optional[str], typer.Argument(help="one group (all groups if left out)")] = None,
              as_json: JsonOpt = False,
              config: ConfigOpt = None) -> None:
    """Posts waiting for a moderator, oldest first."""
    with opened(config) as (_, session):
        rows = [{"id": m.id, "group": name, "from": m.from_addr, "subject": m.subject, "reason": m.reason,
                 "received": when(m.received_at)} for m, name in messages_in(session, "held", group)]
    print_rows(rows, as_json, ["id", "group", "from", "subject", "reason"], "no held posts")


def _decide(message_id: int, action: Literal["approve", "reject", "discard"], config: Optional[Path],
            reason: str = "") -> tuple[Message, int]:
    from sqlalchemy import func
    from sqlmodel import select

    from mailhub.commands import Verdict
    from mailhub.models import Outbox
    from mailhub.moderation import decide_held
    from mailhub.policy import BY_CLI

    with opened(config) as (cfg, session):
        message = _held(session, message_id)
        decide_held(session, cfg, message, Verdict(action, reason), BY_CLI)
        session.commit()
        queued = session.exec(select(func.count()).select_from(Outbox)
                              .where(Outbox.message_pk == message.id, Outbox.kind == "copy")).one()
    return message, queued


@held_app.command("approve")
def held_approve(message_id: IdArg, config: ConfigOpt = None) -> None:
    """Post a held message to its group."""
    _, queued = _decide(message_id, "approve", config)
    typer.echo(f"approved message {message_id}: posted, {count(queued, 'copy', 'copies')} queued")


@held_app.command("reject")
def held_reject(message_id: IdArg, reason: Annotated[str, typer.Option(help="told to the sender")] = "",
                config: ConfigOpt = None) -> None:
    """Drop a held message and tell the sender why."""
    message, _ = _decide(message_id, "reject", config, one_line(reason, "--reason"))
    typer.echo(f"rejected message {message_id}; {message.from_addr or 'the sender'} will be told")


@held_app.command("discard")
def held_discard(message_id: IdArg, config: ConfigOpt = None) -> None:
    """Drop a held message without telling the sender (spam)."""
    _decide(message_id, "discard", config)
    typer.echo(f"discarded message {message_id}")
