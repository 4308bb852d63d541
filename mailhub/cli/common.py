"""What every `mailhub` command shares: options, opening the config and database, one-line errors, tables."""
from __future__ import annotations

import json
import unicodedata
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, NoReturn, Optional

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from mailhub.config import Config, ConfigError, load_config
from mailhub.db import StoreError, make_engine
from mailhub.models import (
    Group,
    Member,
    Message,
)
from mailhub.schedule import ScheduleError
from mailhub.router import AddressError, normalize_email


def has_control(text: str) -> bool:
    """Control characters and Unicode line/paragraph separators: each could break a mail header
    (or a terminal line) in two. A tab cannot."""
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") and c != "\t" for c in text)


def escaped(text: str) -> str:
    """`text` on one line, whatever it quotes back (an option's value, a CSV field, a database
    error): control characters are shown escaped, as `\\n`."""
    return "".join(c.encode("unicode_escape").decode("ascii") if has_control(c) else c for c in text)


def error_line(message: str) -> str:
    return f"error: {escaped(message)}"


def fail(message: str) -> NoReturn:
    """A one-line error for the person at the terminal, and exit status 1."""
    typer.echo(error_line(message), err=True)
    raise typer.Exit(1)


MAX_ID = 2**63 - 1  # the largest id SQLite (and PostgreSQL bigint) can hold

ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="config file (default: $MAILHUB_CONFIG, then ./config.toml)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document for scripts")]


def load(path: Optional[Path]) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        fail(str(exc))


@contextmanager
def opened(path: Optional[Path]) -> Iterator[tuple[Config, Session]]:
    """The config and a database session; every store problem becomes a one-line error."""
    config = load(path)
    try:
        engine = make_engine(config.database.url)
    except StoreError as exc:
        fail(str(exc))
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield config, session
    except SQLAlchemyError as exc:
        fail(f"database error: {getattr(exc, 'orig', None) or exc}")
    finally:
        engine.dispose()


def choice(value: Optional[str], allowed: tuple[str, ...], what: str) -> Optional[str]:
    if value is not None and value not in allowed:
        fail(f"unknown {what} '{value}' (choose {', '.join(allowed)})")
    return value


def address_arg(text: str) -> str:
    try:
        return normalize_email(text)
    except AddressError as exc:
        fail(str(exc))


def find_group(session: Session, name: str) -> Group:
    group = session.exec(select(Group).where(Group.name == name.lower())).first()
    if group is None:
        names = session.exec(select(Group.name).order_by(Group.name).limit(11)).all()
        known = ", ".join(names[:10]) + (", …" if len(names) > 10 else "") if names else "none yet"
        fail(f"no group named '{name}' (groups: {known})")
    return group


def find_member(session: Session, group: Group, address: str) -> Member:
    email_addr = address_arg(address)
    member = session.exec(select(Member).where(Member.group_id == group.id, Member.email == email_addr)).first()
    if member is None:
        fail(f"{email_addr} is not a member of {group.name}")
    return member


def messages_in(session: Session, state: str, group: Optional[str]) -> list[tuple[Message, str]]:
    """Stored messages in `state` with their group's name, oldest first; `group` narrows to one."""
    query = select(Message, Group.name).join(Group, Group.id == Message.group_id).where(Message.state == state)
    if group:
        query = query.where(Message.group_id == find_group(session, group).id)
    return list(session.exec(query.order_by(Message.received_at, Message.id)).all())


def message_in(session: Session, message_id: int, state: str, what: str) -> Message:
    """Message `message_id`, which must be in `state` (`what` names such messages in errors)."""
    message = session.get(Message, message_id) if 0 < message_id <= MAX_ID else None
    if message is None:
        fail(f"no message with id {message_id}")
    if message.state != state:
        fail(f"message {message_id} is not {what} (it is {message.state})")
    return message


def when(value: Optional[datetime]) -> Optional[str]:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def one_line(text: str, what: str) -> str:
    """Every option that can reach a mail header or a template goes through this."""
    if has_control(text):
        fail(f"{what} must be one line without control characters")
    return text.strip()


def on_off(value: bool) -> str:
    return "on" if value else "off"


def switch(value: Optional[str], what: str, current: bool, words: tuple[str, str] = ("on", "off")) -> bool:
    """`words`: what the option says for True and for False."""
    if value is None:
        return current
    if value.lower() not in words:
        fail(f"{what} takes {words[0]} or {words[1]}, not '{value}'")
    return value.lower() == words[0]



def schedule_arg(value: Optional[str], reader: Callable[[str], Any], what: str) -> Optional[str]:
    """A digest time or time zone as given (checked), "" for `default`, None when not given."""
    if value is None:
        return None
    if value.strip().lower() == "default":
        return ""
    try:
        reader(value)
    except ScheduleError as exc:
        fail(f"{what}: {exc}")
    return " ".join(value.split())


def print_rows(rows: list[dict[str, Any]], as_json: bool, columns: list[str], empty: str) -> None:
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo(empty)
        return
    widths = {c: max(len(c), *(len(str(r[c] if r[c] is not None else "")) for r in rows)) for c in columns}
    typer.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        typer.echo("  ".join(str(r[c] if r[c] is not None else "").ljust(widths[c]) for c in columns).rstrip())
