"""The `mailhub` command: run the service, see the queue, post an announcement; the rest are sub-commands."""
from __future__ import annotations

import email.utils
import json
import signal
import sys
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Optional

import typer
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from mailhub.cli.common import (
    ConfigOpt,
    JsonOpt,
    address_arg,
    error_line,
    fail,
    find_group,
    load,
    one_line,
    opened,
    when,
)
from mailhub.cli.archive import export_archive, import_archive
from mailhub.cli.bounces import bounces
from mailhub.cli.check import check
from mailhub.cli.db import db_app
from mailhub.cli.digests import digest_app
from mailhub.cli.failed import failed_app
from mailhub.cli.groups import group_app
from mailhub.cli.held import held_app
from mailhub.cli.members import member_app
from mailhub.cli.topics import topic_app, topics
from mailhub.config import ConfigError
from mailhub.db import StoreError
from mailhub.logs import setup as setup_logging
from mailhub.models import (
    Message,
    Outbox,
)
from mailhub.process import process_message
from mailhub.router import address_for
from mailhub.store import Incoming, insert_incoming

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="mailhub: email-first discussion groups.")
app.add_typer(group_app, name="group")
app.add_typer(member_app, name="member")
app.add_typer(topic_app, name="topic")
app.add_typer(held_app, name="held")
app.add_typer(digest_app, name="digest")
app.add_typer(failed_app, name="failed")
app.add_typer(db_app, name="db")
app.command("bounces")(bounces)
app.command("import")(import_archive)
app.command("export")(export_archive)
app.command("check")(check)

# ---- serve -------------------------------------------------------------------------------------

@app.command()
def serve(
    config: ConfigOpt = None,
    no_listen: Annotated[bool, typer.Option("--no-listen", help="work the queues only, with no SMTP listener "
                                            "(another mailhub serve on the same database takes the mail in)")] = False,
) -> None:
    """Run the SMTP listener and the workers until interrupted."""
    from mailhub.service import Service  # keeps aiosmtpd out of the admin commands

    cfg = load(config)
    setup_logging(cfg.logging.format, cfg.logging.level)
    try:
        service = Service(cfg, listen=not no_listen)
        service.start()
    except StoreError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on {cfg.server.host}:{cfg.server.port}: {exc.strerror or exc}")
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    if no_listen:
        typer.echo("mailhub is working the queues (no listener); Ctrl-C stops it.")
    else:
        typer.echo(f"mailhub is receiving mail for @{cfg.server.domain} on {cfg.server.host}:{cfg.server.port}; "
                   "Ctrl-C stops it.")
    done.wait()
    typer.echo("stopping…")
    service.stop()


# ---- queue and posting -------------------------------------------------------------------------

@app.command("queue")
def queue(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """The outbound queue: how many copies are pending, sent and failed, and the latest errors."""
    with opened(config) as (_, session):
        counts = {state: 0 for state in ("pending", "sent", "failed")}
        counts.update(dict(session.exec(select(Outbox.state, func.count()).group_by(Outbox.state)).all()))
        oldest = session.exec(select(func.min(Outbox.created_at)).where(Outbox.state == "pending")).one()
        errors = session.exec(select(Outbox).where(Outbox.last_error != "")
                              .order_by(col(Outbox.id).desc()).limit(10)).all()
        doc = {"counts": counts, "oldest_pending": when(oldest),
               "errors": [{"id": o.id, "recipient": o.recipient, "state": o.state, "attempts": o.attempts,
                           "next_attempt": when(o.next_attempt_at) if o.state == "pending" else None,
                           "error": o.last_error} for o in errors]}
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    typer.echo("  ".join(f"{state}: {n}" for state, n in counts.items()))
    typer.echo(f"oldest pending: {doc['oldest_pending'] or '-'}")
    for e in doc["errors"]:
        typer.echo(f"#{e['id']} {e['recipient']} [{e['state']}, {e['attempts']} attempt(s)]: {e['error']}")


@app.command("post")
def post(
    group: str,
    sender: Annotated[str, typer.Option("--from", help="the member it comes from")],
    subject: Annotated[str, typer.Option(help="the subject line")],
    body: Annotated[Optional[str], typer.Option(help="the text")] = None,
    file: Annotated[Optional[Path], typer.Option(help="read the text from this file")] = None,
    config: ConfigOpt = None,
) -> None:
    """Post an announcement, handled exactly like mail from SENDER to the group."""
    if (body is None) == (file is None):
        fail("give the text with exactly one of --body or --file")
    if file is not None:
        try:
            body = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {file}: {exc}")
    sender_addr = address_arg(sender)
    subject = one_line(subject, "--subject")
    with opened(config) as (cfg, session):
        g = find_group(session, group)
        to = address_for(g.name, cfg.server.domain)
        mail = EmailMessage()
        mail["From"] = sender_addr
        mail["To"] = to
        mail["Subject"] = subject
        mail["Date"] = email.utils.formatdate(localtime=False)
        mail["Message-ID"] = email.utils.make_msgid(domain=cfg.server.domain)
        mail.set_content(body or "", charset="utf-8")
        insert_incoming(session, [Incoming(group_id=g.id, channel="post", address_token=None, rcpt=to,
                                           envelope_from=sender_addr, raw=mail.as_bytes())], cfg.server.domain)
        session.commit()
        message_id = session.exec(select(Message.id).where(Message.group_id == g.id,
                                                           Message.message_id == mail["Message-ID"][1:-1])).one()
        session.commit()  # end our read snapshot so we see what processing wrote
        process_message(session.get_bind(), cfg, message_id)  # type: ignore[arg-type]
        stored = session.get(Message, message_id)
        assert stored is not None
        queued = session.exec(select(func.count()).select_from(Outbox).where(Outbox.message_pk == message_id)).one()
    if stored.state == "posted":
        typer.echo(f"posted message {message_id} to {g.name}: {queued} copies queued")
    elif stored.state == "new":
        typer.echo(f"stored message {message_id}; the service will process it")
    else:
        typer.echo(f"message {message_id} was {stored.state}: {stored.reason}")
        if stored.state != "held":
            raise typer.Exit(1)


app.command("topics")(topics)  # a top-level command, kept with its topic_app sibling


def main() -> None:
    try:
        app()
    except (ConfigError, StoreError, IntegrityError) as exc:
        typer.echo(error_line(str(exc)), err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - never a traceback at the terminal
        typer.echo(error_line(f"unexpected {type(exc).__name__}: {exc}"), err=True)
        sys.exit(1)
