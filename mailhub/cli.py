"""The `mailhub` command: run the service and manage groups, members, topics, held posts, the queue."""
from __future__ import annotations

import csv
import email.utils
import json
import logging
import re
import signal
import sys
import threading
import unicodedata
from contextlib import contextmanager
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Any, Iterator, NoReturn, Optional

import typer
from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from mailhub.config import Config, ConfigError, load_config
from mailhub.db import StoreError, make_engine
from mailhub.commands import Verdict
from mailhub.membership import new_member, remove_member
from mailhub.models import (DELIVERIES, JOIN_POLICIES, POLICIES, ROLES, WHO_POLICIES, Group, Member, Message, Outbox,
                            Token, Topic, TopicPref)
from mailhub.moderation import decide_held
from mailhub.process import process_message
from mailhub.search import forget_group
from mailhub.router import AddressError, address_for, group_name_problem, normalize_email
from mailhub.store import Incoming, insert_incoming
from mailhub.thread import live_topic


def fail(message: str) -> NoReturn:
    """A one-line error for the person at the terminal, and exit status 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="mailhub: email-first discussion groups.")
group_app = typer.Typer(no_args_is_help=True, help="Create, list, show and delete groups.")
member_app = typer.Typer(no_args_is_help=True, help="Manage the members of a group.")
topic_app = typer.Typer(no_args_is_help=True, help="Read one topic.")
held_app = typer.Typer(no_args_is_help=True, help="Posts waiting for a moderator.")
app.add_typer(group_app, name="group")
app.add_typer(member_app, name="member")
app.add_typer(topic_app, name="topic")
app.add_typer(held_app, name="held")

MAX_ID = 2**63 - 1  # the largest id SQLite (and PostgreSQL bigint) can hold

ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="config file (default: $MAILHUB_CONFIG, then ./config.toml)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document for scripts")]


def _load(path: Optional[Path]) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        fail(str(exc))


@contextmanager
def opened(path: Optional[Path]) -> Iterator[tuple[Config, Session]]:
    """The config and a database session; every store problem becomes a one-line error."""
    config = _load(path)
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


def _choice(value: Optional[str], allowed: tuple[str, ...], what: str) -> Optional[str]:
    if value is not None and value not in allowed:
        fail(f"unknown {what} '{value}' (choose {', '.join(allowed)})")
    return value


def _email(text: str) -> str:
    try:
        return normalize_email(text)
    except AddressError as exc:
        fail(str(exc))


def _group(session: Session, name: str) -> Group:
    group = session.exec(select(Group).where(Group.name == name.lower())).first()
    if group is None:
        names = session.exec(select(Group.name).order_by(Group.name).limit(11)).all()
        known = ", ".join(names[:10]) + (", …" if len(names) > 10 else "") if names else "none yet"
        fail(f"no group named '{name}' (groups: {known})")
    return group


def _member(session: Session, group: Group, address: str) -> Member:
    email_addr = _email(address)
    member = session.exec(select(Member).where(Member.group_id == group.id, Member.email == email_addr)).first()
    if member is None:
        fail(f"{email_addr} is not a member of {group.name}")
    return member


def _when(value: Optional[datetime]) -> Optional[str]:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _one_line(text: str, what: str) -> str:
    # Control characters and Unicode line/paragraph separators could break a mail header.
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") and c != "\t" for c in text):
        fail(f"{what} must be one line without control characters")
    return text.strip()


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def _switch(value: Optional[str], what: str, current: bool) -> bool:
    if value is None:
        return current
    if value.lower() not in ("on", "off"):
        fail(f"{what} takes on or off, not '{value}'")
    return value.lower() == "on"


def _rate_text(limit: int) -> str:
    return f"{limit}/hour" if limit else "none"


def _rate_limit(text: str) -> int:
    """`5/hour`, `5` or `none`/`0` (no limit)."""
    m = re.fullmatch(r"\s*(\d{1,6})\s*(?:/\s*(?:h|hour))?\s*", text.lower())
    if text.strip().lower() in ("none", "off"):
        return 0
    if not m:
        fail(f"--rate-limit takes posts per hour like 5/hour, or none; not '{text}'")
    return int(m.group(1))


def _print(rows: list[dict[str, Any]], as_json: bool, columns: list[str], empty: str) -> None:
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


# ---- serve -------------------------------------------------------------------------------------

@app.command()
def serve(config: ConfigOpt = None) -> None:
    """Run the SMTP listener and the workers until interrupted."""
    from mailhub.service import Service  # keeps aiosmtpd out of the admin commands

    cfg = _load(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command
    try:
        service = Service(cfg)
        service.start()
    except StoreError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on {cfg.server.host}:{cfg.server.port}: {exc.strerror or exc}")
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    typer.echo(f"mailhub is receiving mail for @{cfg.server.domain} on {cfg.server.host}:{cfg.server.port}; "
               "Ctrl-C stops it.")
    done.wait()
    typer.echo("stopping…")
    service.stop()


# ---- groups ------------------------------------------------------------------------------------

def _group_row(session: Session, config: Config, group: Group) -> dict[str, Any]:
    members = session.exec(select(func.count()).select_from(Member).where(Member.group_id == group.id)).one()
    topics = session.exec(select(func.count()).select_from(Topic).where(Topic.group_id == group.id)).one()
    return {"id": group.id, "name": group.name, "address": address_for(group.name, config.server.domain),
            "title": group.title, "description": group.description, "policy": group.policy,
            "join_policy": group.join_policy, "members": members, "topics": topics, "created": _when(group.created_at)}


@group_app.command("create")
def group_create(
    name: str,
    title: Annotated[str, typer.Option(help="a human title, shown in List-Id")] = "",
    description: Annotated[str, typer.Option(help="what the group is for")] = "",
    policy: Annotated[str, typer.Option(help="who may post: open, members (default) or moderated")] = "members",
    join_policy: Annotated[str, typer.Option(help="confirm (default), approve or closed")] = "confirm",
    config: ConfigOpt = None,
) -> None:
    """Create a group; its address is NAME@<server.domain>."""
    name = name.strip().lower()
    problem = group_name_problem(name)
    if problem:
        fail(f"invalid group name '{name}': {problem}")
    _choice(policy, POLICIES, "policy")
    _choice(join_policy, JOIN_POLICIES, "join policy")
    title, description = _one_line(title, "--title"), description.strip()
    with opened(config) as (cfg, session):
        if session.exec(select(Group).where(Group.name == name)).first():
            fail(f"group '{name}' already exists")
        session.add(Group(name=name, title=title, description=description, policy=policy, join_policy=join_policy))
        session.commit()
        typer.echo(f"created group {name}: post to {address_for(name, cfg.server.domain)} "
                   f"(policy: {policy}, join policy: {join_policy})")


@group_app.command("list")
def group_list(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """All groups, with member and topic counts."""
    with opened(config) as (cfg, session):
        rows = [_group_row(session, cfg, g) for g in session.exec(select(Group).order_by(Group.name)).all()]
    _print(rows, as_json, ["id", "name", "policy", "members", "topics", "address"],
           "no groups yet (create one: mailhub group create NAME)")


@group_app.command("show")
def group_show(name: str, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """One group's settings and addresses."""
    with opened(config) as (cfg, session):
        group = _group(session, name)
        row = _group_row(session, cfg, group)
        row["addresses"] = {kind: address_for(group.name, cfg.server.domain, kind)
                            for kind in ("post", "join", "leave", "request", "owner")}
        row.update({"subject_prefix": group.prefix, "rate_limit": _rate_text(group.rate_limit),
                    "new_member_moderation": _on_off(group.new_member_moderation), "who": group.who,
                    "include_author": _on_off(group.include_author), "from_rewrite": _on_off(group.from_rewrite)})
    if as_json:
        typer.echo(json.dumps(row, ensure_ascii=False, indent=2))
        return
    for key, value in row.items():
        if key != "addresses":
            typer.echo(f"{key}: {value}")
    for kind, address in row["addresses"].items():
        typer.echo(f"{kind} address: {address}")


@group_app.command("set")
def group_set(
    name: str,
    policy: Annotated[Optional[str], typer.Option(help="who may post: open, members or moderated")] = None,
    join_policy: Annotated[Optional[str], typer.Option(
        help="confirm (joiners confirm by mail), approve (then an owner approves) or closed (invite only)")] = None,
    rate_limit: Annotated[Optional[str], typer.Option(
        help="posts per sender per hour before the rest are held, like 5/hour; none for no limit")] = None,
    new_member_moderation: Annotated[Optional[str], typer.Option(
        help="on: hold a new member's posts until one is approved")] = None,
    who: Annotated[Optional[str], typer.Option(help="who may ask for the member list by mail: moderators or members")] = None,
    title: Annotated[Optional[str], typer.Option(help="a human title, shown in List-Id")] = None,
    description: Annotated[Optional[str], typer.Option(help="what the group is for")] = None,
    subject_prefix: Annotated[Optional[str], typer.Option(help="put before every subject; '' for none")] = None,
    include_author: Annotated[Optional[str], typer.Option(help="on: authors get a copy of their own posts")] = None,
    from_rewrite: Annotated[Optional[str], typer.Option(help="on: From shows 'Name via group' (DMARC-safe)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Change a group's settings; only the options given change."""
    _choice(policy, POLICIES, "policy")
    _choice(join_policy, JOIN_POLICIES, "join policy")
    _choice(who, WHO_POLICIES, "--who")
    values = {"policy": policy, "join_policy": join_policy, "who": who,
              "rate_limit": _rate_limit(rate_limit) if rate_limit is not None else None,
              "title": _one_line(title, "--title") if title is not None else None,
              "description": description.strip() if description is not None else None,
              "subject_prefix": _one_line(subject_prefix, "--subject-prefix") if subject_prefix is not None else None}
    switches = {"new_member_moderation": new_member_moderation, "include_author": include_author,
                "from_rewrite": from_rewrite}
    if all(v is None for v in (*values.values(), *switches.values())):
        fail("nothing to change: give at least one option (see mailhub group set --help)")
    with opened(config) as (cfg, session):
        group = _group(session, name)
        for key, value in values.items():
            if value is not None:
                setattr(group, key, value)
        for key, value in switches.items():
            setattr(group, key, _switch(value, "--" + key.replace("_", "-"), getattr(group, key)))
        session.add(group)
        session.commit()
        typer.echo(f"{group.name}: policy {group.policy}, join policy {group.join_policy}, "
                   f"rate limit {_rate_text(group.rate_limit)}, new-member moderation "
                   f"{_on_off(group.new_member_moderation)}, who {group.who}")


@group_app.command("delete")
def group_delete(name: str, yes: Annotated[bool, typer.Option("--yes", help="really delete")] = False,
                 config: ConfigOpt = None) -> None:
    """Delete a group with its members, topics, messages and queued mail."""
    with opened(config) as (_, session):
        group = _group(session, name)
        count = session.exec(select(func.count()).select_from(Message).where(Message.group_id == group.id)).one()
        if not yes:
            fail(f"this deletes group '{group.name}' and its {count} message(s) for good; "
                          "add --yes to do it")
        member_ids = select(Member.id).where(Member.group_id == group.id)
        session.execute(delete(TopicPref).where(col(TopicPref.member_id).in_(member_ids)))
        forget_group(session, group.id)
        for model in (Token, Outbox, Message, Topic, Member):
            session.execute(delete(model).where(model.group_id == group.id))
        session.delete(group)
        session.commit()
    typer.echo(f"deleted group {group.name} and {count} message(s)")


# ---- members -----------------------------------------------------------------------------------

@member_app.command("add")
def member_add(
    group: str,
    address: Annotated[str, typer.Argument(metavar="EMAIL")],
    name: Annotated[str, typer.Option(help="display name")] = "",
    role: Annotated[str, typer.Option(help="member, moderator or owner")] = "member",
    delivery: Annotated[str, typer.Option(help="each, daily, weekly or none")] = "each",
    config: ConfigOpt = None,
) -> None:
    """Add one member."""
    email_addr = _email(address)
    _choice(role, ROLES, "role")
    _choice(delivery, DELIVERIES, "delivery")
    name = _one_line(name, "--name")
    with opened(config) as (_, session):
        g = _group(session, group)
        if session.exec(select(Member).where(Member.group_id == g.id, Member.email == email_addr)).first():
            fail(f"{email_addr} is already a member of {g.name}")
        session.add(new_member(g, email_addr, name, role, delivery))
        session.commit()
    typer.echo(f"added {email_addr} to {g.name} as {role} ({delivery})")


def import_problem(row: dict[str, Any], seen: set[str]) -> tuple[Optional[str], Optional[tuple[str, str, str, str]]]:
    """Check one CSV row: (problem, None) or (None, (email, name, role, delivery))."""
    if None in row:
        return "too many fields", None
    raw_email = (row.get("email") or "").strip()
    if not raw_email:
        return "email is empty", None
    try:
        email_addr = normalize_email(raw_email)
    except AddressError as exc:
        return str(exc), None
    name = (row.get("name") or "").strip()
    role = (row.get("role") or "").strip().lower() or "member"
    delivery = (row.get("delivery") or "").strip().lower() or "each"
    if any(ord(c) < 32 for c in name):
        return "name contains control characters", None
    if role not in ROLES:
        return f"unknown role '{role}' (choose {', '.join(ROLES)})", None
    if delivery not in DELIVERIES:
        return f"unknown delivery '{delivery}' (choose {', '.join(DELIVERIES)})", None
    if email_addr in seen:
        return f"{email_addr} is already a member", None
    return None, (email_addr, name, role, delivery)


@member_app.command("import")
def member_import(group: str, file: Annotated[Path, typer.Argument(metavar="FILE.csv")],
                  config: ConfigOpt = None) -> None:
    """Add members from a CSV file with the header email,name,role,delivery.

    Good rows are added; each bad row is reported with its line number."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        fail(f"file not found: {file}")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in header:
        fail(f"{file}: the first line must be the header email,name,role,delivery")
    unknown = [h for h in header if h not in ("email", "name", "role", "delivery")]
    if unknown:
        fail(f"{file}: unknown column(s) {', '.join(unknown)} (allowed: email,name,role,delivery)")
    reader.fieldnames = header
    problems: list[str] = []
    added = 0
    with opened(config) as (_, session):
        g = _group(session, group)
        seen = set(session.exec(select(Member.email).where(Member.group_id == g.id)).all())
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue  # blank line
            problem, good = import_problem(row, seen)
            if problem:
                problems.append(f"{file}:{reader.line_num}: {problem}")
                continue
            assert good is not None
            session.add(new_member(g, *good))
            seen.add(good[0])
            added += 1
        session.commit()
    for p in problems:
        typer.echo(p, err=True)
    typer.echo(f"added {added} member(s) to {g.name}" + (f"; {len(problems)} row(s) skipped" if problems else ""))
    if problems:
        raise typer.Exit(1)


@member_app.command("list")
def member_list(group: str, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """The members of a group."""
    with opened(config) as (_, session):
        g = _group(session, group)
        members = session.exec(select(Member).where(Member.group_id == g.id).order_by(Member.email)).all()
        rows = [{"id": m.id, "email": m.email, "name": m.name, "role": m.role, "delivery": m.delivery,
                 "plain": m.plain, "moderated": m.moderated, "new_member": m.new_member,
                 "organisation": m.organisation, "country": m.country, "joined": _when(m.created_at)}
                for m in members]
    _print(rows, as_json, ["id", "email", "name", "role", "delivery"], f"{g.name} has no members yet")


@member_app.command("set")
def member_set(
    group: str,
    address: Annotated[str, typer.Argument(metavar="EMAIL")],
    role: Annotated[Optional[str], typer.Option(help="member, moderator or owner")] = None,
    delivery: Annotated[Optional[str], typer.Option(help="each, daily, weekly or none")] = None,
    name: Annotated[Optional[str], typer.Option(help="display name")] = None,
    moderated: Annotated[Optional[str], typer.Option(help="on: hold every post of this member; off")] = None,
    plain: Annotated[Optional[str], typer.Option(help="on: text-only copies; off")] = None,
    config: ConfigOpt = None,
) -> None:
    """Change a member's role, delivery, name, moderation or text-only setting."""
    _choice(role, ROLES, "role")
    _choice(delivery, DELIVERIES, "delivery")
    if all(v is None for v in (role, delivery, name, moderated, plain)):
        fail("nothing to change: give --role, --delivery, --name, --moderated or --plain")
    with opened(config) as (_, session):
        m = _member(session, _group(session, group), address)
        m.role = role or m.role
        m.delivery = delivery or m.delivery
        m.name = _one_line(name, "--name") if name is not None else m.name
        m.moderated = _switch(moderated, "--moderated", m.moderated)
        m.plain = _switch(plain, "--plain", m.plain)
        session.add(m)
        session.commit()
        typer.echo(f"{m.email}: role {m.role}, delivery {m.delivery}, moderated {_on_off(m.moderated)}, "
                   f"plain {_on_off(m.plain)}")


@member_app.command("remove")
def member_remove(group: str, address: Annotated[str, typer.Argument(metavar="EMAIL")],
                  config: ConfigOpt = None) -> None:
    """Remove a member; mail already queued for them is not sent."""
    with opened(config) as (_, session):
        g = _group(session, group)
        m = _member(session, g, address)
        remove_member(session, m)
        session.commit()
        typer.echo(f"removed {m.email} from {g.name}")


# ---- topics ------------------------------------------------------------------------------------

@app.command("topics")
def topics(group: str, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """A group's topics, most recently active first."""
    with opened(config) as (cfg, session):
        g = _group(session, group)
        found = session.exec(select(Topic).where(Topic.group_id == g.id, col(Topic.merged_into).is_(None))
                             .order_by(col(Topic.last_message_at).desc(), col(Topic.id).desc())).all()
        rows = [{"id": t.id, "key": t.key, "subject": t.subject, "messages": t.message_count,
                 "last_message": _when(t.last_message_at), "created": _when(t.created_at),
                 "reply_address": address_for(g.name, cfg.server.domain, token=t.key)} for t in found]
    _print(rows, as_json, ["id", "messages", "last_message", "subject"], f"{g.name} has no topics yet")


@topic_app.command("show")
def topic_show(topic_id: Annotated[str, typer.Argument(metavar="TOPIC_ID")], as_json: JsonOpt = False,
               full: Annotated[bool, typer.Option("--full", help="whole texts, with quotes and signatures")] = False,
               config: ConfigOpt = None) -> None:
    """The messages of one topic, oldest first: what each author wrote, or with --full the whole
    text (TOPIC_ID is the number or the key)."""
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
               "reply_address": address_for(group.name, cfg.server.domain, token=topic.key),
               "messages": [{"id": m.id, "message_id": m.message_id, "from": m.from_addr, "name": m.from_name,
                             "subject": m.subject, "received": _when(m.received_at),
                             "text": m.body_text if full else (m.new_text or m.body_text),
                             "attachments": m.attachments}
                            for m in messages]}
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    typer.echo(f"Topic {doc['id']} in {doc['group']}: {doc['subject']}")
    typer.echo(f"Reply to: {doc['reply_address']}")
    for m in doc["messages"]:
        author = f"{m['name']} <{m['from']}>" if m["name"] else m["from"]
        typer.echo(f"\n--- #{m['id']} {m['received']} {author}\nSubject: {m['subject']}\n\n{m['text']}")
        for a in m["attachments"]:
            typer.echo(f"[attachment: {a['filename'] or 'unnamed'}, {a['content_type']}, {a['size']} bytes]")


# ---- moderation --------------------------------------------------------------------------------

def _held(session: Session, message_id: int) -> Message:
    message = session.get(Message, message_id) if 0 < message_id <= MAX_ID else None
    if message is None or message.channel != "post":
        fail(f"no post with id {message_id}")
    if message.state != "held":
        fail(f"message {message_id} is not held (it is {message.state})")
    return message


@held_app.command("list")
def held_list(group: Annotated[Optional[str], typer.Argument()] = None, as_json: JsonOpt = False,
              config: ConfigOpt = None) -> None:
    """Posts waiting for a moderator, oldest first."""
    with opened(config) as (_, session):
        query = select(Message, Group.name).join(Group, Group.id == Message.group_id).where(Message.state == "held")
        if group:
            query = query.where(Message.group_id == _group(session, group).id)
        rows = [{"id": m.id, "group": name, "from": m.from_addr, "subject": m.subject, "reason": m.reason,
                 "received": _when(m.received_at)}
                for m, name in session.exec(query.order_by(Message.received_at, Message.id)).all()]
    _print(rows, as_json, ["id", "group", "from", "subject", "reason"], "no held posts")


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
    message, _ = _decide(message_id, Verdict("reject", _one_line(reason, "--reason")), config)
    typer.echo(f"rejected message {message_id}; {message.from_addr or 'the sender'} will be told")


@held_app.command("discard")
def held_discard(message_id: Annotated[int, typer.Argument(metavar="ID")], config: ConfigOpt = None) -> None:
    """Drop a held message without telling the sender (spam)."""
    _decide(message_id, Verdict("discard"), config)
    typer.echo(f"discarded message {message_id}")


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
        doc = {"counts": counts, "oldest_pending": _when(oldest),
               "errors": [{"id": o.id, "recipient": o.recipient, "state": o.state, "attempts": o.attempts,
                           "next_attempt": _when(o.next_attempt_at) if o.state == "pending" else None,
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
    sender_addr = _email(sender)
    subject = _one_line(subject, "--subject")
    with opened(config) as (cfg, session):
        g = _group(session, group)
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


def main() -> None:
    try:
        app()
    except (ConfigError, StoreError, IntegrityError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - never a traceback at the terminal
        typer.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
