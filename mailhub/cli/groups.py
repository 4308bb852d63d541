"""`mailhub group …`: create, list, show, set and delete groups."""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

import typer

from mailhub.cli.common import (
    ConfigOpt,
    JoinPolicy,
    JsonOpt,
    OnOff,
    Policy,
    Who,
    address_arg,
    count,
    fail,
    find_group,
    language_arg,
    on_off,
    one_line,
    opened,
    print_rows,
    schedule_arg,
    switch,
    when,
)
from mailhub.cli.conventions import Typer
from mailhub.router import address_for, group_name_problem  # which imports only the standard library

LANGUAGE_HELP = ("the language of the group's mail for members who have not chosen their own: en, fr, es, pt, "
                 "ar or sw (if left out: config.toml's server.language)")

Addresses = Literal["hidden", "shown"]  # models.ADDRESSES
ADDRESSES_HELP = (
    "hidden: members never see each other's addresses: copies come From 'Ann via mentors' with the group as To "
    "and no Cc, their footer offers no private reply, and digests and answers by mail ('who', 'get') name "
    "people, never their address (what authors write in their own text stays as written); shown: copies keep "
    "the author's address (X-Original-From, 'Write to Ann privately: …') and the To and Cc they wrote, and "
    "'who' lists addresses")

if TYPE_CHECKING:
    from sqlmodel import Session

    from mailhub.config import Config
    from mailhub.models import Group

# The database and mail modules are imported inside the commands: `mailhub --help` does not wait for them.

group_app = Typer(help="Create, list, show, change and delete groups.")


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


def _size(text: str) -> int:
    from mailhub.attachments import read_size

    try:
        return read_size(text)
    except ValueError as exc:
        fail(f"--max-attachment-size takes {exc}")


def _private_copy(value: str) -> str:
    """--private-copy: a mail address, or "" for 'off'."""
    from mailhub.router import AddressError, normalize_email

    if value.strip().lower() == "off":
        return ""
    try:
        return normalize_email(value)
    except AddressError as exc:
        fail(f"--private-copy: {exc}; give the safeguarding address, or 'off'")


def _group_row(session: Session, config: Config, group: Group) -> dict[str, Any]:
    from sqlalchemy import func
    from sqlmodel import select

    from mailhub.models import Member, Topic

    members = session.exec(select(func.count()).select_from(Member).where(Member.group_id == group.id)).one()
    topics = session.exec(select(func.count()).select_from(Topic).where(Topic.group_id == group.id)).one()
    return {"id": group.id, "name": group.name, "address": address_for(group.name, config.server.domain),
            "title": group.title, "description": group.description, "policy": group.policy,
            "join_policy": group.join_policy, "member_addresses": group.addresses,
            "private_copy": group.private_copy or None,
            "language": group.language or config.server.language,
            "members": members, "topics": topics, "created": when(group.created_at)}


@group_app.command("create")
def group_create(
    name: str,
    title: Annotated[str, typer.Option(help="a human title, shown in List-Id")] = "",
    description: Annotated[str, typer.Option(help="what the group is for")] = "",
    policy: Annotated[Policy, typer.Option(help="who may post")] = "members",
    join_policy: Annotated[JoinPolicy, typer.Option(
        help="confirm: joiners confirm by mail; approve: then an owner approves too; closed: invite only",
    )] = "confirm",
    owner: Annotated[Optional[list[str]], typer.Option(
        "--owner", metavar="EMAIL", help="an owner: gets -owner@ mail and decides held posts (repeat for more)")] = None,
    language: Annotated[Optional[str], typer.Option(metavar="CODE", help=LANGUAGE_HELP)] = None,
    addresses: Annotated[Addresses, typer.Option(
        case_sensitive=False, help=ADDRESSES_HELP + " (new groups: hidden)")] = "hidden",
    config: ConfigOpt = None,
) -> None:
    """Create a group; its address is NAME@<server.domain>."""
    from sqlmodel import select

    from mailhub.membership import new_member
    from mailhub.models import Group

    name = name.strip().lower()
    problem = group_name_problem(name)
    if problem:
        fail(f"invalid group name '{name}': {problem}")
    title, description = one_line(title, "--title"), one_line(description, "--description")
    owners = list(dict.fromkeys(address_arg(o) for o in owner or []))
    code = language_arg(language)
    with opened(config) as (cfg, session):
        if session.exec(select(Group).where(Group.name == name)).first():
            fail(f"group '{name}' already exists")
        group = Group(name=name, title=title, description=description, policy=policy, join_policy=join_policy,
                      language=code or None, addresses=addresses)
        session.add(group)
        session.flush()
        for address in owners:
            session.add(new_member(group, address, role="owner"))
        session.commit()
        typer.echo(f"created group {name}: post to {address_for(name, cfg.server.domain)} "
                   f"(policy: {policy}, join policy: {join_policy}, language: {group.language or cfg.server.language}, "
                   f"member addresses: {'hidden from other members' if addresses == 'hidden' else 'shown'})"
                   + (f"; owners: {', '.join(owners)}" if owners else ""))
        if not owners:
            typer.echo(f"warning: {name} has no owner, so {_unowned(cfg, name)}; add one with "
                       f"`mailhub member add {name} EMAIL --role owner`", err=True)


def _unowned(config: Config, name: str) -> str:
    """What happens to a group's owner mail and held posts while nobody owns it."""
    owner_address = address_for(name, config.server.domain, "owner")
    if config.server.postmaster:
        return f"mail to {owner_address} and its held posts go to server.postmaster ({config.server.postmaster})"
    return (f"nobody will see its held posts (only `mailhub held list` shows them), and mail to {owner_address} "
            "goes to the owners of other groups, if any")


@group_app.command("list")
def group_list(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """All groups, with member and topic counts."""
    from sqlmodel import select

    from mailhub.models import Group

    with opened(config) as (cfg, session):
        rows = [_group_row(session, cfg, g) for g in session.exec(select(Group).order_by(Group.name)).all()]
    print_rows(rows, as_json, ["id", "name", "policy", "members", "topics", "address"],
           "no groups yet (create one: mailhub group create NAME)")


@group_app.command("show")
def group_show(name: str, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """One group's settings and addresses."""
    from mailhub.attachments import size_text

    with opened(config) as (cfg, session):
        group = find_group(session, name)
        row = _group_row(session, cfg, group)
        row["addresses"] = {kind: address_for(group.name, cfg.server.domain, kind)
                            for kind in ("post", "join", "leave", "request", "owner")}
        row.update({"subject_prefix": group.prefix, "rate_limit": _rate_text(group.rate_limit),
                    "new_member_moderation": on_off(group.new_member_moderation), "who": group.who,
                    "include_author": on_off(group.include_author),
                    "from_rewrite": "always" if group.from_rewrite else "never",
                    "digest_daily": group.digest_daily or cfg.digest.daily,
                    "digest_weekly": group.digest_weekly or cfg.digest.weekly,
                    "timezone": group.timezone or cfg.digest.timezone, "digest_quiet": on_off(group.digest_quiet),
                    "max_attachment_size": size_text(group.max_attachment_size)})
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
    policy: Annotated[Optional[Policy], typer.Option(help="who may post")] = None,
    join_policy: Annotated[Optional[JoinPolicy], typer.Option(
        help="confirm: joiners confirm by mail; approve: then an owner approves too; closed: invite only")] = None,
    rate_limit: Annotated[Optional[str], typer.Option(
        metavar="N/hour", help="posts per sender per hour before the rest are held; none for no limit")] = None,
    new_member_moderation: Annotated[Optional[OnOff], typer.Option(
        case_sensitive=False, help="on: hold a new member's posts until one is approved")] = None,
    who: Annotated[Optional[Who], typer.Option(help="who may ask for the member list by mail")] = None,
    title: Annotated[Optional[str], typer.Option(help="a human title, shown in List-Id")] = None,
    description: Annotated[Optional[str], typer.Option(help="what the group is for")] = None,
    subject_prefix: Annotated[Optional[str], typer.Option(help="put before every subject; '' for none")] = None,
    include_author: Annotated[Optional[OnOff], typer.Option(
        case_sensitive=False, help="on: authors get a copy of their own posts")] = None,
    from_rewrite: Annotated[Optional[Literal["always", "never"]], typer.Option(
        case_sensitive=False,
        help="always (as new groups do): From shows 'Name via group' at the group's address, which passes "
             "DMARC; never: the author's own From, which fails DMARC for authors at strict domains")] = None,
    daily: Annotated[Optional[str], typer.Option(
        metavar="HH:MM", help="daily digest time, like 07:00; 'default': config.toml's again")] = None,
    weekly: Annotated[Optional[str], typer.Option(
        metavar="'DAY HH:MM'",
        help="weekly digest day and time, like 'mon 07:00'; 'default': config.toml's again")] = None,
    timezone: Annotated[Optional[str], typer.Option(
        metavar="ZONE", help="time zone of the digest times for members without their own, like Africa/Nairobi; "
                             "'default': config.toml's again")] = None,
    digest_quiet: Annotated[Optional[OnOff], typer.Option(
        case_sensitive=False,
        help="on: digest readers get an 'all quiet' note when nothing was posted (off, as new groups do: "
             "no mail)")] = None,
    max_attachment_size: Annotated[Optional[str], typer.Option(
        metavar="SIZE", help="attachments larger than this (like 1MB or 500KB) are named in copies, not sent; "
                             "members get one by mail with 'get attachment ID'")] = None,
    language: Annotated[Optional[str], typer.Option(
        metavar="CODE", help=LANGUAGE_HELP + "; 'default': config.toml's again")] = None,
    addresses: Annotated[Optional[Addresses], typer.Option(case_sensitive=False, help=ADDRESSES_HELP)] = None,
    private_copy: Annotated[Optional[str], typer.Option(
        metavar="EMAIL", help="safeguarding: every private mail members send each other through the group "
                              "(relay addresses, mentoring pairs) is also sent here, and every member's footer "
                              "says so; 'off': none (as new groups have)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Change a group's settings; only the options given change."""
    from mailhub.schedule import read_time, read_weekly, read_zone

    digest = {"digest_daily": schedule_arg(daily, read_time, "--daily"),
              "digest_weekly": schedule_arg(weekly, read_weekly, "--weekly"),
              "timezone": schedule_arg(timezone, read_zone, "--timezone"),
              "language": language_arg(language)}
    values = {"policy": policy, "join_policy": join_policy, "who": who, "addresses": addresses,
              "rate_limit": _rate_limit(rate_limit) if rate_limit is not None else None,
              "title": one_line(title, "--title") if title is not None else None,
              "description": one_line(description, "--description") if description is not None else None,
              "subject_prefix": one_line(subject_prefix, "--subject-prefix") if subject_prefix is not None else None,
              "max_attachment_size": _size(max_attachment_size) if max_attachment_size is not None else None,
              "private_copy": _private_copy(private_copy) if private_copy is not None else None}
    switches = {"new_member_moderation": new_member_moderation, "include_author": include_author,
                "digest_quiet": digest_quiet}
    if all(v is None for v in (*values.values(), *switches.values(), *digest.values(), from_rewrite)):
        fail("nothing to change: give at least one option (see mailhub group set --help)")
    with opened(config) as (cfg, session):
        group = find_group(session, name)
        for key, value in values.items():
            if value is not None:
                setattr(group, key, value)
        for key, value in switches.items():
            setattr(group, key, switch(value, getattr(group, key)))
        group.from_rewrite = switch(from_rewrite, group.from_rewrite, yes="always")
        for key, value in digest.items():
            if value is not None:
                setattr(group, key, value or None)
        session.add(group)
        session.commit()
        typer.echo(f"{group.name}: policy {group.policy}, join policy {group.join_policy}, "
                   f"rate limit {_rate_text(group.rate_limit)}, new-member moderation "
                   f"{on_off(group.new_member_moderation)}, who {group.who}, "
                   f"language {group.language or cfg.server.language}, member addresses {group.addresses}, "
                   f"private copies {group.private_copy or 'off'}")
        if group.addresses == "hidden" and not group.from_rewrite:
            typer.echo(f"note: {group.name} hides member addresses, so copies are From 'Name via {group.name}' "
                       "whatever --from-rewrite says", err=True)


@group_app.command("delete")
def group_delete(name: str, yes: Annotated[bool, typer.Option("--yes", help="really delete")] = False,
                 config: ConfigOpt = None) -> None:
    """Delete a group with its members, topics, messages and queued mail."""
    from sqlalchemy import delete, func
    from sqlmodel import col, select

    from mailhub.models import (Block, Departure, DigestIssue, DigestMark, Member, Message, MessageRef, Outbox, Pair,
                                RelayLog, Token, Topic, TopicPref)
    from mailhub.search import forget_group

    with opened(config) as (_, session):
        group = find_group(session, name)
        messages = session.exec(select(func.count()).select_from(Message).where(Message.group_id == group.id)).one()
        if not yes:
            fail(f"this deletes group '{group.name}' and its {count(messages, 'message')} for good; "
                 "add --yes to do it")
        member_ids = select(Member.id).where(Member.group_id == group.id)
        session.execute(delete(TopicPref).where(col(TopicPref.member_id).in_(member_ids)))
        forget_group(session, group.id)
        for model in (Token, Outbox, DigestMark, DigestIssue, MessageRef, RelayLog, Block, Pair, Message, Topic, Member,
                      Departure):
            session.execute(delete(model).where(model.group_id == group.id))
        session.delete(group)
        session.commit()
    typer.echo(f"deleted group {group.name} and {count(messages, 'message')}")
