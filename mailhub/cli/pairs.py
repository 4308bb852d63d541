"""`mailhub pair …`: make, list and end a group's mentoring pairs (mailhub/pairs.py)."""
from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from mailhub.cli.common import ConfigOpt, JsonOpt, address_arg, fail, find_group, opened, print_rows, when
from mailhub.cli.conventions import Typer

if TYPE_CHECKING:
    from sqlmodel import Session

    from mailhub.models import Group
    from mailhub.pairs import PairState

# The database and mail modules are imported inside the commands: `mailhub --help` does not wait for them.

pair_app = Typer(help="Mentoring pairs: a mentor and a mentee with a private channel through the group.")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _started(value: Optional[str], group: Group, config: Any) -> Optional[datetime]:
    """--started YYYY-MM-DD: that day at 00:00 in the group's time zone."""
    if value is None:
        return None
    from mailhub.stats.figures import group_zone

    try:
        if not _DATE.fullmatch(value.strip()):
            raise ValueError
        day = date.fromisoformat(value.strip())
    except ValueError:
        fail(f"--started: '{value}' is not a date like 2024-03-01 (YYYY-MM-DD)")
    return datetime.combine(day, time(), tzinfo=group_zone(config, group))


@pair_app.command("add", short_help="Pair a mentor with a mentee; both get a welcome mail.")
def pair_add(
    group: str,
    mentor: Annotated[str, typer.Argument(metavar="MENTOR", help="the mentor's address (a member)")],
    mentee: Annotated[str, typer.Argument(metavar="MENTEE", help="the mentee's address (a member)")],
    started: Annotated[Optional[str], typer.Option(
        metavar="DATE", help="when the pair began, YYYY-MM-DD in the group's time zone, for pairs moved in "
                             "from elsewhere (default: now)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Pair MENTOR with MENTEE, two members of GROUP: they get their own address GROUP-pair-KEY@,
    and each a welcome mail that introduces the other by name (never by address)."""
    from mailhub.pairs import PairError, add_pair, pair_address

    mentor_addr, mentee_addr = address_arg(mentor), address_arg(mentee)
    with opened(config) as (cfg, session):
        g = find_group(session, group)
        try:
            pair = add_pair(session, cfg, g, mentor_addr, mentee_addr, _started(started, g, cfg))
        except PairError as exc:
            fail(str(exc))
        session.commit()
        address = pair_address(cfg, g, pair)
    typer.echo(f"paired mentor {mentor_addr} with mentee {mentee_addr} in {g.name}: {address} "
               f"(pair {pair.key}); a welcome mail is queued for each")


def _people(session: Session, group: Group) -> dict[str, str]:
    from sqlmodel import select

    from mailhub.models import Member

    return dict(session.exec(select(Member.email, Member.name).where(Member.group_id == group.id)).all())


def _row(state: PairState, names: dict[str, str], address: str) -> dict[str, Any]:
    pair = state.pair
    return {"key": pair.key, "address": address,
            "mentor": {"email": pair.mentor, "name": names.get(pair.mentor, ""), "member": pair.mentor in names},
            "mentee": {"email": pair.mentee, "name": names.get(pair.mentee, ""), "member": pair.mentee in names},
            "started": when(pair.started_at), "ended": when(pair.ended_at),
            "mentor_to_mentee": state.to_mentee, "mentee_to_mentor": state.to_mentor,
            "last_contact": when(state.last_contact), "days_quiet": state.days_quiet,
            "exchanges": state.exchanges, "quiet": state.quiet}


def _person(who: dict[str, Any]) -> str:
    return f"{who['name']} <{who['email']}>" if who["name"] else who["email"]


@pair_app.command("list")
def pair_list(
    group: str,
    quiet: Annotated[bool, typer.Option("--quiet", help="only open pairs with no mail for pairs.quiet_days "
                                                        "(config.toml, default 21) or more")] = False,
    ended: Annotated[bool, typer.Option("--ended", help="ended pairs too")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """A group's open mentoring pairs, oldest first: who, their address, when they started, messages
    each way, last contact, days quiet and exchanges (answers: a message from the other one
    than the message before)."""
    from mailhub.pairs import pair_address, pair_states

    with opened(config) as (cfg, session):
        g = find_group(session, group)
        names = _people(session, g)
        states = [s for s in pair_states(session, cfg, g, ended=ended) if s.quiet or not quiet]
        rows = [_row(s, names, pair_address(cfg, g, s.pair)) for s in states]
        quiet_days = cfg.pairs.quiet_days
    if as_json:
        print_rows(rows, True, [], "")
        return
    table = [{"key": r["key"], "mentor": _person(r["mentor"]), "mentee": _person(r["mentee"]),
              "address": r["address"], "started": (r["started"] or "")[:10],
              "to mentee": r["mentor_to_mentee"], "to mentor": r["mentee_to_mentor"],
              "last contact": (r["last_contact"] or "-")[:10], "days quiet": r["days_quiet"],
              "exchanges": r["exchanges"], "ended": (r["ended"] or "")[:10]} for r in rows]
    columns = ["key", "mentor", "mentee", "address", "started", "to mentee", "to mentor", "last contact",
               "days quiet", "exchanges"] + (["ended"] if ended else [])
    what = f"no pair in {g.name} has been quiet for {quiet_days:g} days or more" if quiet else \
        f"{g.name} has no {'' if ended else 'open '}mentoring pairs (add one: mailhub pair add {g.name} MENTOR MENTEE)"
    print_rows(table, False, columns, what)


def _key(text: str, group: Group, domain: str) -> str:
    """A pair's key, from the key itself or the pair's whole address."""
    from mailhub.router import PAIR, AddressError, parse_address

    text = text.strip()
    if "@" not in text:
        return text.lower()
    try:
        parsed = parse_address(text, domain)
    except AddressError:
        parsed = None
    if parsed is None or parsed.kind != PAIR or parsed.group != group.name:
        fail(f"'{text}' is not the address of a pair in {group.name} (it looks like {group.name}-pair-KEY@{domain})")
    return parsed.token or ""


@pair_app.command("end", short_help="End a pair: its address takes no more mail.")
def pair_end(
    group: str,
    key: Annotated[str, typer.Argument(metavar="KEY", help="the pair's key (or its address), from `pair list`")],
    config: ConfigOpt = None,
) -> None:
    """End a mentoring pair: its address takes no more mail, and both get a short notice. The pair
    stays on record (`pair list --ended`)."""
    from mailhub.pairs import PairError, end_pair, find_pair

    with opened(config) as (cfg, session):
        g = find_group(session, group)
        pair = find_pair(session, g, _key(key, g, cfg.server.domain))
        if pair is None:
            fail(f"no pair '{key}' in {g.name} (see: mailhub pair list {g.name})")
        try:
            end_pair(session, cfg, g, pair, tell=[pair.mentor, pair.mentee])
        except PairError as exc:
            fail(str(exc))
        session.commit()
    typer.echo(f"ended the pair {pair.key} of {pair.mentor} and {pair.mentee} in {g.name}; both are told")
