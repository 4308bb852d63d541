"""`mailhub stats`: a group's figures (members, posts, answers and how fast they come) over any
dates, or week by week or month by month, as a table, JSON or CSV. What each figure counts is in
mailhub/stats/figures.py and docs/admin.md."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional
from zoneinfo import ZoneInfo

import typer

from mailhub.cli.common import ConfigOpt, JsonOpt, fail, find_group, opened

if TYPE_CHECKING:
    from mailhub.stats.figures import Figures

By = Literal["week", "month"]  # figures.By
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_COUNTED = ("group", "since", "until")  # before the figures in JSON and CSV


def _day(value: Optional[str], what: str) -> Optional[date]:
    if value is None:
        return None
    try:
        if not _DATE.fullmatch(value.strip()):
            raise ValueError
        return date.fromisoformat(value.strip())
    except ValueError:
        fail(f"{what}: '{value}' is not a date like 2024-03-01 (YYYY-MM-DD)")
    raise AssertionError  # fail() does not return


def _moment(value: Optional[datetime], zone: ZoneInfo) -> Optional[str]:
    return value.astimezone(zone).isoformat(timespec="seconds") if value is not None else None


def _values(figures: Figures) -> dict[str, Any]:
    """The figures for JSON and CSV: rates to 4 decimals, hours to 2."""
    values = figures.as_dict()
    for name, places in (("answer_rate", 4), ("median_first_reply_hours", 2), ("p90_first_reply_hours", 2)):
        if values[name] is not None:
            values[name] = round(values[name], places)
    return values


def _shown(name: str, value: Any) -> str:
    """A figure as the table shows it: rates in per cent, hours to one decimal, none as '-'."""
    if value is None:
        return "-"
    if name == "answer_rate":
        return f"{value:.0%}"
    if name.endswith("_hours"):
        return f"{value:.1f}"
    return str(value)


def _label(figures: Figures, zone: ZoneInfo, by: Optional[By]) -> str:
    """A period's column heading: its month (2024-03), or the Monday its week starts on."""
    from mailhub.stats.figures import period_start

    start = figures.start or figures.end
    if by == "month":
        return start.astimezone(zone).strftime("%Y-%m")
    return period_start(start, zone, "week").strftime("%Y-%m-%d")


def _table(found: list[Figures], zone: ZoneInfo, by: Optional[By]) -> list[str]:
    from mailhub.stats.figures import FIELDS

    width = max(len(name) for name in FIELDS)
    if by is None:
        (figures,) = found
        since = "the beginning" if figures.start is None else f"{figures.start.astimezone(zone):%Y-%m-%d %H:%M}"
        lines = [f"{figures.group}: {since} to {figures.end.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"]
        for name in FIELDS:
            extra = f"  ({', '.join(figures.country_names)})" if name == "countries" and figures.country_names else ""
            lines.append(f"  {name.ljust(width)}  {_shown(name, getattr(figures, name)).rjust(6)}{extra}")
        return lines
    labels = [_label(f, zone, by) for f in found]
    columns = [[_shown(name, getattr(f, name)) for name in FIELDS] for f in found]
    widths = [max(len(label), *(len(v) for v in column)) for label, column in zip(labels, columns)]
    cut = "weeks from Monday" if by == "week" else "months from the 1st"
    lines = [f"{found[0].group} by {by} ({zone.key}; {cut}, 00:00 local time)",
             "  ".join(["FIGURE".ljust(width), *(label.rjust(w) for label, w in zip(labels, widths))])]
    for row, name in enumerate(FIELDS):
        lines.append("  ".join([name.ljust(width), *(c[row].rjust(w) for c, w in zip(columns, widths))]))
    return lines


def stats(
    group: Annotated[Optional[str], typer.Argument(help="one group (every group if left out)")] = None,
    since: Annotated[Optional[str], typer.Option(
        metavar="DATE", help="from this day at 00:00, YYYY-MM-DD in the group's time zone "
                             "(default: the beginning)")] = None,
    until: Annotated[Optional[str], typer.Option(
        metavar="DATE", help="to the end of this day, YYYY-MM-DD in the group's time zone (default: now)")] = None,
    by: Annotated[Optional[By], typer.Option(help="one column (JSON object, CSV row) per week or month")] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option(
        "--csv", help="print CSV: a header, then one row per group and period")] = False,
    config: ConfigOpt = None,
) -> None:
    """A group's figures: members, who joined and left, posts, topics, how many got an answer and
    how fast, unanswered and solved topics, mentors replying, countries, digest readers, stopped
    deliveries. Periods and dates are in each group's time zone."""
    if as_json and as_csv:
        fail("--json and --csv cannot be used together; choose one")
    first, last = _day(since, "--since"), _day(until, "--until")
    if first is not None and last is not None and last < first:
        fail(f"--until {last} is before --since {first}")

    import csv
    import io
    import json

    from sqlmodel import select

    from mailhub.models import Group, utcnow
    from mailhub.stats.figures import FIELDS, group_figures, group_zone, series

    now = utcnow()
    results: list[tuple[ZoneInfo, list[Figures]]] = []
    with opened(config) as (cfg, session):
        groups = [find_group(session, group)] if group else list(session.exec(select(Group).order_by(Group.name)))
        for g in groups:
            zone = group_zone(cfg, g)
            start = datetime.combine(first, time(), tzinfo=zone) if first else None
            end = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone) if last else now
            if start is not None and start > end:
                fail(f"--since {first} is in the future: there is nothing to count yet")
            found = series(session, cfg, g, start, end, by) if by else [group_figures(session, cfg, g, start, end)]
            results.append((zone, found))
    rows = [{"group": f.group, "since": _moment(f.start, zone), "until": _moment(f.end, zone), **_values(f)}
            for zone, found in results for f in found]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif as_csv:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[*_COUNTED, *FIELDS], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)  # None is written as an empty field
        typer.echo(out.getvalue(), nl=False)
    elif not results:
        typer.echo("no groups yet (mailhub group create NAME)")
    else:
        typer.echo("\n\n".join("\n".join(_table(found, zone, by)) for zone, found in results))
