"""The `mailhub` command: run the service, see the queue, post an announcement; the rest are sub-commands.

Start-up: this module and the sub-command modules import only typer and small pure modules at the
top; each command imports the database and mail code it needs when it runs, so `mailhub --help`
does not wait for SQLAlchemy, dkim or jinja2 (bench/cli_startup.py measures it)."""
from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from mailhub.cli.common import (
    ConfigOpt,
    JsonOpt,
    address_arg,
    count,
    error_line,
    fail,
    find_group,
    load,
    one_line,
    opened,
    when,
)
from mailhub.cli.conventions import Group, Typer


class Root(Group):
    # Every command, in the order of `mailhub --help` (run and check it, set up groups and members,
    # then the daily work), with the line it shows there. Each module is imported when its command
    # runs, so `mailhub --help` and `mailhub --version` import none of them.
    lazy = {
        "serve": ("mailhub.cli.main:serve", "Run the SMTP listener and the workers until interrupted."),
        "check": ("mailhub.cli.check:check", "Check the config, database, relay and DKIM key; print DNS records."),
        "group": ("mailhub.cli.groups:group_app", "Create, list, show, change and delete groups."),
        "member": ("mailhub.cli.members:member_app", "Add, import, list, change and remove members."),
        "pair": ("mailhub.cli.pairs:pair_app", "Mentoring pairs: add, list (with quiet ones), end."),
        "private": ("mailhub.cli.private:private", "Private mail members sent through a group: who, when, size."),
        "messages": ("mailhub.cli.messages:messages", "Mail received, newest first: its state and why."),
        "held": ("mailhub.cli.held:held_app", "Posts waiting for a moderator: list, approve, reject, discard."),
        "topics": ("mailhub.cli.topics:topics", "A group's topics, most recently active first."),
        "topic": ("mailhub.cli.topics:topic_app", "Read one topic."),
        "digest": ("mailhub.cli.digests:digest_app", "Preview digests, or send them now."),
        "events": ("mailhub.cli.events:events", "A group's events, with how many said yes, maybe and no."),
        "event": ("mailhub.cli.events:event_app", "Create an event: an invitation to every member."),
        "stats": ("mailhub.cli.stats:stats", "A group's figures: members, posts, answers and how fast they come."),
        "report": ("mailhub.cli.report:report", "A month's one-page impact report, as a web page or mailed to owners."),
        "bounces": ("mailhub.cli.bounces:bounces", "Members whose mail bounces, and whose delivery stopped."),
        "queue": ("mailhub.cli.main:queue", "The outbound queue: counts by state and the latest errors."),
        "failed": ("mailhub.cli.failed:failed_app", "Mail whose processing failed: show, retry, delete."),
        "post": ("mailhub.cli.main:post", "Post an announcement, as a member would by mail."),
        "import": ("mailhub.cli.archive:import_archive", "Thread an archive (mbox, Maildir, .eml) into a group."),
        "export": ("mailhub.cli.archive:export_archive", "Write a group's archive to an mbox file."),
        "db": ("mailhub.cli.db:db_app", "The database's schema: see it, upgrade it."),
    }


app = Typer(cls=Root, name="mailhub")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"mailhub {version('mailhub')}")
        except PackageNotFoundError:
            fail("mailhub is not installed, so it has no version (pip install -e . makes it one)")
        raise typer.Exit()


@app.callback(epilog="Each command's options: mailhub COMMAND --help.")
def root(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                          help="print mailhub's version and exit")] = False,
    config: ConfigOpt = None,
) -> None:
    """mailhub: email-first discussion groups."""


# ---- serve -------------------------------------------------------------------------------------

def serve(
    config: ConfigOpt = None,
    no_listen: Annotated[bool, typer.Option("--no-listen", help="work the queues only, with no SMTP listener "
                                            "(another mailhub serve on the same database takes the mail in)")] = False,
) -> None:
    """Run the SMTP listener and the workers until interrupted."""
    import signal
    import threading

    from mailhub.db import StoreError
    from mailhub.logs import setup as setup_logging
    from mailhub.service import Service

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
        _status("mailhub is working the queues (no listener); Ctrl-C stops it.")
    else:
        _status(f"mailhub is receiving mail for @{cfg.server.domain} on {cfg.server.host}:{cfg.server.port}; "
                "Ctrl-C stops it.")
    done.wait()
    _status("stopping…")
    service.stop()


def _status(line: str) -> None:
    """A line for whoever watches `serve`. A standard output that cannot be written (a full disk
    under a log file, a closed pipe) must not end a running service, nor keep it from recording
    its last sends as it stops: it is pointed at /dev/null, and the service runs on."""
    try:
        typer.echo(line)
    except OSError:
        import os

        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # what was buffered goes there too, at exit
            os.close(devnull)
        except (OSError, ValueError):  # a standard output with no file behind it: nothing to mend
            pass


# ---- queue and posting -------------------------------------------------------------------------

def queue(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """The outbound queue: how many copies are pending, sent and failed, and the latest errors."""
    import json

    from sqlalchemy import func
    from sqlmodel import col, select

    from mailhub.models import Outbox

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
        typer.echo(f"#{e['id']} {e['recipient']} [{e['state']}, {count(e['attempts'], 'attempt')}]: {e['error']}")


def post(
    group: str,
    sender: Annotated[str, typer.Option("--from", metavar="EMAIL", help="the member it comes from")],
    subject: Annotated[str, typer.Option(help="the subject line")],
    body: Annotated[Optional[str], typer.Option(help="the text")] = None,
    file: Annotated[Optional[Path], typer.Option(help="read the text from this file")] = None,
    config: ConfigOpt = None,
) -> None:
    """Post an announcement, handled exactly like mail from EMAIL to GROUP."""
    import email.utils
    from email.message import EmailMessage

    from sqlalchemy import func
    from sqlmodel import select

    from mailhub.models import Message, Outbox
    from mailhub.process import process_message
    from mailhub.router import address_for
    from mailhub.store import Incoming, insert_incoming

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
        stored, = insert_incoming(session, [Incoming(group_id=g.id, channel="post", address_token=None, rcpt=to,
                                                     envelope_from=sender_addr, raw=mail.as_bytes())],
                                  cfg.server.domain)
        message_id = stored.pk
        session.commit()  # also ends our read snapshot, so we see what processing writes
        process_message(session.get_bind(), cfg, message_id)  # type: ignore[arg-type]
        stored = session.get(Message, message_id)
        assert stored is not None
        queued = session.exec(select(func.count()).select_from(Outbox).where(Outbox.message_pk == message_id)).one()
    if stored.state == "posted":
        typer.echo(f"posted message {message_id} to {g.name}: {count(queued, 'copy', 'copies')} queued")
    elif stored.state == "new":
        typer.echo(f"stored message {message_id}; the service will process it")
    else:
        typer.echo(f"message {message_id} was {stored.state}: {stored.reason}")
        if stored.state != "held":
            raise typer.Exit(1)


def main() -> None:
    """The console script. Usage errors are handled in conventions.Group.main; here is the last
    guard: whatever a command raises is one `error:` line and exit status 1, never a traceback."""
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - never a traceback at the terminal
        typer.echo(error_line(_problem(exc)), err=True)
        sys.exit(1)
    finally:
        # The process ends here: leave its objects to the OS instead of the collector's last passes
        # over everything SQLAlchemy and pydantic made, which cost a short command ~150 ms at exit.
        gc.freeze()


def _problem(exc: Exception) -> str:
    """A bad config or a database that cannot be opened or written, in its own words; anything
    else named as unexpected."""
    from sqlalchemy.exc import IntegrityError

    from mailhub.config import ConfigError
    from mailhub.db import StoreError

    if isinstance(exc, (ConfigError, StoreError, IntegrityError)):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"
