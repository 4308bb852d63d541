"""`mailhub report`: a month's one-page impact report of a group, printed as text, written as a
self-contained web page, or mailed to the group's owners."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mailhub.cli.common import ConfigOpt, count, fail, find_group, opened


def report(
    group: str,
    month: Annotated[str, typer.Option("--month", metavar="YYYY-MM", help="the month to report on")],
    html: Annotated[Optional[Path], typer.Option("--html", metavar="FILE", help=(
        "write the report as one self-contained web page (chart included) to FILE"))] = None,
    mail: Annotated[bool, typer.Option("--mail", help="mail it to the group's owners, each in their language")] = False,
    config: ConfigOpt = None,
) -> None:
    """A month's one-page impact report: the headline figures beside the previous month's, posts
    and answered topics week by week, the topics with the most replies and the questions still
    waiting. Printed as text unless --html or --mail says otherwise; in the group's language
    (--mail: each owner's)."""
    from datetime import datetime

    from mailhub.notices import member_language
    from mailhub.membership import owners
    from mailhub.models import utcnow
    from mailhub.stats.figures import group_zone
    from mailhub.stats.report import (MonthError, chart_png, data_uri, gather, month_window, owner_mails,
                                      queue_mails, read_month, render)

    try:
        first = read_month(month)
    except MonthError as exc:
        fail(f"--month: {exc}")
    with opened(config) as (cfg, session):
        g = find_group(session, group)
        now = utcnow()
        zone = group_zone(cfg, g)
        if month_window(first, zone)[0] > now:
            fail(f"--month {first:%Y-%m} has not begun yet (today is {datetime.now(zone):%Y-%m-%d} in {zone.key})")
        data = gather(session, cfg, g, first, now)
        language = member_language(cfg, g)
        if html is not None:
            page = render(cfg, data, language, data_uri(chart_png(data))).html
            try:
                html.write_text(page, encoding="utf-8")
            except OSError as exc:
                fail(f"cannot write {html}: {exc.strerror or exc}")
            typer.echo(f"wrote the {first:%Y-%m} report of {g.name} to {html} ({len(page.encode()) // 1024} KB)")
        if mail:
            mails = owner_mails(session, cfg, g, data, owners(session, g), manual=True)
            if not mails:
                fail(f"{g.name} has no owners to mail the report to (add one: mailhub member set {g.name} EMAIL "
                     "--role owner)")
            queue_mails(session.get_bind(), g, data, mails)  # type: ignore[arg-type]
            typer.echo(f"queued the {first:%Y-%m} report of {g.name} to {count(len(mails), 'owner')}: "
                       + ", ".join(to for _, to, _ in mails))
        if html is None and not mail:
            typer.echo(render(cfg, data, language, "").text, nl=False)
