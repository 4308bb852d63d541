"""What every `mailhub` command shares: options, opening the config and database, one-line errors, tables.

Only typer, the standard library and mailhub.router (standard library only) are imported here
at the top: every command module imports this one, and `mailhub --help` should not wait for
SQLAlchemy. The database helpers import what they need when they run."""
from __future__ import annotations

import json
import unicodedata
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterator, Literal, NoReturn, Optional

import typer

from mailhub.router import AddressError, normalize_email  # which imports only the standard library

if TYPE_CHECKING:
    from sqlmodel import Session

    from mailhub.config import Config
    from mailhub.models import Group, Member, Message

# Options with a fixed set of values: typer checks them, and help and errors list them. The same
# words as mailhub.models' POLICIES, JOIN_POLICIES, WHO_POLICIES, ROLES and DELIVERIES (written out
# here so that help need not import the models; tests/test_cli_conventions.py holds them equal).
Policy = Literal["open", "members", "moderated"]
JoinPolicy = Literal["confirm", "approve", "closed"]
Who = Literal["moderators", "members"]
Role = Literal["member", "mentor", "moderator", "owner"]
Delivery = Literal["each", "daily", "weekly", "none"]
Period = Literal["daily", "weekly"]  # digest_jobs.PERIODS
OnOff = Literal["on", "off"]


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


def _config_path(ctx: typer.Context, value: Optional[Path]) -> Optional[Path]:
    """A command's own --config, else the one given before the command (`mailhub --config x.toml
    group list`); None leaves it to mailhub.config.config_path: $MAILHUB_CONFIG, then ./config.toml."""
    return value if value is not None else ctx.find_root().params.get("config")


ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", metavar="FILE", callback=_config_path, show_default="$MAILHUB_CONFIG, else ./config.toml",
    help="the config file (before or after the command)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document for scripts")]


def load(path: Optional[Path]) -> Config:
    from mailhub.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        fail(str(exc))


@contextmanager
def opened(path: Optional[Path]) -> Iterator[tuple[Config, Session]]:
    """The config and a database session; every store problem becomes a one-line error."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import Session

    from mailhub.db import StoreError, make_engine

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


def address_arg(text: str) -> str:
    try:
        return normalize_email(text)
    except AddressError as exc:
        fail(str(exc))


def find_group(session: Session, name: str) -> Group:
    from sqlmodel import select

    from mailhub.models import Group

    group = session.exec(select(Group).where(Group.name == name.lower())).first()
    if group is None:
        names = session.exec(select(Group.name).order_by(Group.name).limit(11)).all()
        known = ", ".join(names[:10]) + (", …" if len(names) > 10 else "") if names else "none yet"
        fail(f"no group named '{name}' (groups: {known})")
    return group


def find_member(session: Session, group: Group, address: str) -> Member:
    from sqlmodel import select

    from mailhub.models import Member

    email_addr = address_arg(address)
    member = session.exec(select(Member).where(Member.group_id == group.id, Member.email == email_addr)).first()
    if member is None:
        fail(f"{email_addr} is not a member of {group.name}")
    return member


def messages_in(session: Session, state: str, group: Optional[str]) -> list[tuple[Message, str]]:
    """Stored messages in `state` with their group's name (None: the site's postmaster mail),
    oldest first; `group` narrows to one."""
    from sqlmodel import select

    from mailhub.models import Group, Message

    query = (select(Message, Group.name).join(Group, Group.id == Message.group_id, isouter=True)
             .where(Message.state == state))
    if group:
        query = query.where(Message.group_id == find_group(session, group).id)
    return list(session.exec(query.order_by(Message.received_at, Message.id)).all())


def message_in(session: Session, message_id: int, state: str, what: str) -> Message:
    """Message `message_id`, which must be in `state` (`what` names such messages in errors)."""
    from mailhub.models import Message

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


def switch(value: Optional[str], current: bool, yes: str = "on") -> bool:
    """An on/off option (already checked by typer): `yes` is the word for True; None keeps `current`."""
    return current if value is None else value == yes


def count(n: int, word: str, plural: str = "") -> str:
    """`1 copy`, `2 copies`: `plural` when it is not `word` + s."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


LANGUAGE_META = "CODE"


def language_arg(value: Optional[str], what: str = "--language") -> Optional[str]:
    """A shipped language's code from what was given (`fr`, `pt-BR`, `français`), "" for
    `default`, None when not given; anything else fails, naming the shipped languages."""
    if value is None:
        return None
    if value.strip().lower() == "default":
        return ""
    from mailhub.i18n.languages import UnknownLanguage, read_language

    try:
        return read_language(value)
    except UnknownLanguage as exc:
        fail(f"{what}: {exc}")
    raise AssertionError  # fail() does not return


def schedule_arg(value: Optional[str], reader: Callable[[str], Any], what: str) -> Optional[str]:
    """A digest time or time zone as given (checked), "" for `default`, None when not given."""
    if value is None:
        return None
    if value.strip().lower() == "default":
        return ""
    from mailhub.schedule import ScheduleError

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
