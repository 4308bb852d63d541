"""`mailhub digest …`: see a member's digest as it would go out now, or send a group's digests now."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from mailhub.cli.common import ConfigOpt, Period, count, fail, find_group, find_member, opened
from mailhub.cli.conventions import Typer

digest_app = Typer(help="Preview digests, or send them now.")


@digest_app.command("preview", short_help="Print the digest a member would get now (sends nothing).")
def preview(group: str, email: str,
            period: Annotated[Optional[Period], typer.Option(
                help="the digest to show (if left out: the member's own delivery)")] = None,
            html: Annotated[bool, typer.Option("--html", help="print the HTML part instead of the text")] = False,
            config: ConfigOpt = None) -> None:
    """Print the digest EMAIL would get if it were sent now (nothing is sent or recorded)."""
    from mailhub.deliver import muted_topics, recipients
    from mailhub.digest import bodies
    from mailhub.digest_jobs import PERIODS, Due, Subscriber, build, last_digests, member_zone, period_window
    from mailhub.models import utcnow
    from mailhub.notices import member_language

    with opened(config) as (cfg, session):
        g = find_group(session, group)
        member = find_member(session, g, email)
        period = period or member.delivery
        if period not in PERIODS:
            fail(f"{member.email} gets delivery '{member.delivery}', not a digest; "
                 "add --period daily or --period weekly to see one anyway")
        now = utcnow()
        window = period_window(period, now, last_digests(session, g, member.id).get(member.id), member.created_at)
        if window is None:
            fail(f"{member.email} has had a digest up to now already")
        subscriber = Subscriber(member.id, member.email, period, member.timezone, member.created_at,  # type: ignore[arg-type]
                                member.language)
        due = Due(subscriber, period, *window, member_zone(cfg, g, member.timezone),
                  member_language(cfg, g, member.language))
        rendered = build(session, cfg, g, due, quiet_note=False)
        if rendered is None:
            typer.echo(f"no digest: nothing new in {g.name} for {member.email} since "
                       f"{window[0]:%Y-%m-%d %H:%M} UTC")
            return
        reader = recipients(session, {member.id}, cfg.server.language)[member.id]  # type: ignore[arg-type,index]
        muted = muted_topics(session, {member.id}).get(member.id, frozenset())  # type: ignore[arg-type]
        text, page = bodies(cfg.templates, rendered.parts, reader, muted)
    if html:
        if member.plain:
            fail(f"{member.email} asked for text only and gets no HTML part")
        typer.echo(page, nl=False)
    else:
        typer.echo(f"Subject: {rendered.subject}\n\n{text}", nl=False)


@digest_app.command("send", short_help="Queue a group's digests now.")
def send(group: str,
         period: Annotated[Optional[Period], typer.Option(
             help="only the daily or only the weekly digests (if left out: both)")] = None,
         config: ConfigOpt = None) -> None:
    """Queue GROUP's digests now, each covering its reader's time since their last one. A second
    run sends only what is new since the first."""
    from mailhub.digest_jobs import queue_digests

    with opened(config) as (cfg, session):
        g = find_group(session, group)
        report = queue_digests(session.get_bind(), cfg, group_name=g.name, period=period,  # type: ignore[arg-type]
                               manual=True)
    typer.echo(f"{g.name}: {count(report.queued, 'digest')} queued; "
               f"{count(report.quiet, 'reader')} had nothing new")
