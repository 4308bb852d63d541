"""`mailhub member …`: add, import, list, change and remove members."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated, Any, Optional, get_args

import typer

from mailhub.cli.common import (
    ConfigOpt,
    Delivery,
    JsonOpt,
    OnOff,
    Role,
    address_arg,
    count,
    escaped,
    fail,
    find_group,
    find_member,
    has_control,
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
from mailhub.router import AddressError, normalize_email  # which imports only the standard library

# The database and mail modules are imported inside the commands: `mailhub --help` does not wait for them.

ROLES, DELIVERIES = get_args(Role), get_args(Delivery)
ROLE_HELP = "mentors' digests lead with unanswered topics; moderators and owners decide held posts"
DELIVERY_HELP = "each: every post; daily or weekly: a digest; none: no mail"
LANGUAGE_HELP = "the language of the member's mail: en, fr, es, pt, ar or sw (if left out: the group's)"

member_app = Typer(help="Add, import, list, change and remove the members of a group.")


@member_app.command("add")
def member_add(
    group: str,
    address: Annotated[str, typer.Argument(metavar="EMAIL")],
    name: Annotated[str, typer.Option(help="display name")] = "",
    role: Annotated[Role, typer.Option(help=ROLE_HELP)] = "member",
    delivery: Annotated[Delivery, typer.Option(help=DELIVERY_HELP)] = "each",
    language: Annotated[Optional[str], typer.Option(metavar="CODE", help=LANGUAGE_HELP)] = None,
    config: ConfigOpt = None,
) -> None:
    """Add one member."""
    from sqlmodel import select

    from mailhub.membership import new_member
    from mailhub.models import Member

    email_addr = address_arg(address)
    name = one_line(name, "--name")
    code = language_arg(language)
    with opened(config) as (_, session):
        g = find_group(session, group)
        if session.exec(select(Member).where(Member.group_id == g.id, Member.email == email_addr)).first():
            fail(f"{email_addr} is already a member of {g.name}")
        member = new_member(g, email_addr, name, role, delivery)
        member.language = code or None
        session.add(member)
        session.commit()
    typer.echo(f"added {email_addr} to {g.name} as {role} ({delivery}"
               + (f", language {member.language}" if member.language else "") + ")")


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
    if has_control(name):
        return "name contains control characters or a line break", None
    if role not in ROLES:
        return f"unknown role '{role}' (choose {', '.join(ROLES)})", None
    if delivery not in DELIVERIES:
        return f"unknown delivery '{delivery}' (choose {', '.join(DELIVERIES)})", None
    if email_addr in seen:
        return f"{email_addr} is already a member", None
    return None, (email_addr, name, role, delivery)


@member_app.command("import", short_help="Add members from a CSV file (email,name,role,delivery).")
def member_import(group: str, file: Annotated[Path, typer.Argument(metavar="FILE.csv")],
                  config: ConfigOpt = None) -> None:
    """Add members from a CSV file with the header email,name,role,delivery.

    Good rows are added; each bad row is reported with its line number."""
    from sqlmodel import select

    from mailhub.membership import new_member
    from mailhub.models import Member

    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        fail(f"file not found: {file}")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    # Lines end only at CR/LF: a quoted name that holds a line break (a spreadsheet cell, or
    # \u2028) stays in its field, where the row is refused, instead of being cut into two rows.
    reader = csv.DictReader(io.StringIO(text, newline=""))
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
        g = find_group(session, group)
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
        typer.echo(escaped(p), err=True)
    typer.echo(f"added {count(added, 'member')} to {g.name}"
               + (f"; {count(len(problems), 'row')} skipped" if problems else ""))
    if problems:
        raise typer.Exit(1)


@member_app.command("list")
def member_list(group: str, as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """The members of a group."""
    from sqlmodel import select

    from mailhub.models import Member

    with opened(config) as (_, session):
        g = find_group(session, group)
        members = session.exec(select(Member).where(Member.group_id == g.id).order_by(Member.email)).all()
        rows = [{"id": m.id, "email": m.email, "name": m.name, "role": m.role, "delivery": m.delivery,
                 "plain": m.plain, "moderated": m.moderated, "new_member": m.new_member,
                 "organisation": m.organisation, "country": m.country, "timezone": m.timezone,
                 "language": m.language,
                 "joined": when(m.created_at)}
                for m in members]
    print_rows(rows, as_json, ["id", "email", "name", "role", "delivery"], f"{g.name} has no members yet")


@member_app.command("set", short_help="Change a member's role, delivery, name or other settings.")
def member_set(
    group: str,
    address: Annotated[str, typer.Argument(metavar="EMAIL")],
    role: Annotated[Optional[Role], typer.Option(help=ROLE_HELP)] = None,
    delivery: Annotated[Optional[Delivery], typer.Option(help=DELIVERY_HELP)] = None,
    name: Annotated[Optional[str], typer.Option(help="display name")] = None,
    moderated: Annotated[Optional[OnOff], typer.Option(
        case_sensitive=False, help="on: hold every post of this member")] = None,
    plain: Annotated[Optional[OnOff], typer.Option(case_sensitive=False, help="on: text-only copies")] = None,
    timezone: Annotated[Optional[str], typer.Option(
        metavar="ZONE", help="the member's time zone for digest times, like Africa/Nairobi; "
                             "'default': the group's again")] = None,
    language: Annotated[Optional[str], typer.Option(
        metavar="CODE", help=LANGUAGE_HELP + "; 'default': the group's again")] = None,
    enable: Annotated[bool, typer.Option(
        "--enable", help="start delivery again after it stopped for bounces, with a clean bounce score")] = False,
    config: ConfigOpt = None,
) -> None:
    """Change a member's role, delivery, name, moderation, text-only setting, time zone or language."""
    from mailhub.bounces import enable as enable_delivery
    from mailhub.membership import set_delivery
    from mailhub.schedule import read_zone

    zone = schedule_arg(timezone, read_zone, "--timezone")
    code = language_arg(language)
    if all(v is None for v in (role, delivery, name, moderated, plain, zone, code)) and not enable:
        fail("nothing to change: give --role, --delivery, --name, --moderated, --plain, --timezone, --language "
             "or --enable")
    with opened(config) as (_, session):
        m = find_member(session, find_group(session, group), address)
        m.role = role or m.role
        set_delivery(session, m, delivery or m.delivery)
        m.name = one_line(name, "--name") if name is not None else m.name
        m.moderated = switch(moderated, m.moderated)
        m.plain = switch(plain, m.plain)
        if zone is not None:
            m.timezone = zone or None
        if code is not None:
            m.language = code or None
        if enable:
            enable_delivery(session, m)
        session.add(m)
        session.commit()
        typer.echo(f"{m.email}: role {m.role}, delivery {m.delivery}, moderated {on_off(m.moderated)}, "
                   f"plain {on_off(m.plain)}, time zone {m.timezone or 'the group'}, "
                   f"language {m.language or 'the group'}"
                   + (f", delivery stopped for bounces since {when(m.disabled_at)}" if m.disabled_at else ""))


@member_app.command("remove")
def member_remove(group: str, address: Annotated[str, typer.Argument(metavar="EMAIL")],
                  config: ConfigOpt = None) -> None:
    """Remove a member; mail already queued for them is not sent."""
    from mailhub.membership import remove_member

    with opened(config) as (cfg, session):
        g = find_group(session, group)
        m = find_member(session, g, address)
        remove_member(session, m, "removed", cfg)
        session.commit()
        typer.echo(f"removed {m.email} from {g.name}")
