"""`mailhub failed …`: received messages whose processing kept failing. Each was tried
`process.MAX_ATTEMPTS` times, one lease apart, and then set aside with its error, so the
messages behind it went on; here an admin reads the error, retries it once the cause is fixed,
or deletes it."""
from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

from mailhub.cli.common import ConfigOpt, JsonOpt, message_in, messages_in, opened, print_rows, when
from mailhub.cli.conventions import Typer

failed_app = Typer(help="Received messages whose processing failed: read, retry, delete.")
IdArg = Annotated[int, typer.Argument(metavar="ID")]
PREVIEW_BYTES = 2000


@failed_app.command("list")
def failed_list(group: Annotated[Optional[str], typer.Argument(help="one group (all groups if left out)")] = None,
                as_json: JsonOpt = False,
                config: ConfigOpt = None) -> None:
    """Messages set aside after failing, oldest first, with their error."""
    with opened(config) as (_, session):
        rows = [{"id": m.id, "group": name, "to": m.rcpt, "from": m.from_addr or m.envelope_from,
                 "attempts": m.attempts, "error": m.reason, "received": when(m.received_at)}
                for m, name in messages_in(session, "failed", group)]
    print_rows(rows, as_json, ["id", "group", "to", "from", "error"], "no failed messages")


@failed_app.command("show", short_help="One failed message: its error, envelope and first lines.")
def failed_show(message_id: IdArg, raw: Annotated[bool, typer.Option(
        "--raw", help="print the message exactly as it was received, nothing else")] = False,
                as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """One failed message: its error, its envelope and the start of what was received."""
    with opened(config) as (_, session):
        m = message_in(session, message_id, "failed", "failed")
        data = bytes(m.raw)
        doc = {"id": m.id, "to": m.rcpt, "envelope_from": m.envelope_from, "message_id": m.message_id,
               "received": when(m.received_at), "attempts": m.attempts, "error": m.reason, "size": len(data)}
    if raw:
        sys.stdout.buffer.write(data)
        return
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    for key, value in doc.items():
        typer.echo(f"{key}: {value}")
    preview = data[:PREVIEW_BYTES].decode("utf-8", "replace")
    typer.echo(f"\n{preview}" + ("\n[… more: failed show --raw]" if len(data) > PREVIEW_BYTES else ""))


@failed_app.command("retry")
def failed_retry(message_id: IdArg, config: ConfigOpt = None) -> None:
    """Process a failed message again (after fixing what made it fail)."""
    with opened(config) as (_, session):
        m = message_in(session, message_id, "failed", "failed")
        m.state, m.attempts, m.lease_until, m.reason = "new", 0, None, ""
        session.add(m)
        session.commit()
    typer.echo(f"message {message_id} queued again: the running service processes it next")


@failed_app.command("delete")
def failed_delete(message_id: IdArg, config: ConfigOpt = None) -> None:
    """Delete a failed message for good."""
    from sqlalchemy import delete

    from mailhub.models import MessageRef

    with opened(config) as (_, session):
        m = message_in(session, message_id, "failed", "failed")
        session.execute(delete(MessageRef).where(MessageRef.message_pk == m.id))
        session.delete(m)
        session.commit()
    typer.echo(f"deleted message {message_id}")
