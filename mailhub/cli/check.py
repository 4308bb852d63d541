"""`mailhub check`: is this installation ready to take and send mail?"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

from mailhub.cli.common import ConfigOpt, JsonOpt, escaped

if TYPE_CHECKING:
    from mailhub.check import Report


def check(as_json: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Check the config, the database, the listener (and the web listener when [web] is set), the relay
    and the DKIM key; print the DNS records to publish. Exits 1 if a check failed. Sends no mail and
    changes nothing."""
    from mailhub.check import run_checks

    # libpq waits minutes for a host that drops packets; a check should answer sooner.
    os.environ.setdefault("PGCONNECT_TIMEOUT", "10")
    report = run_checks(config)
    if as_json:
        typer.echo(json.dumps({"ok": report.ok, "checks": [asdict(r) for r in report.results],
                               "records": [asdict(r) for r in report.records]}, ensure_ascii=False, indent=2))
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _print(report: Report) -> None:
    from mailhub.check import zone_line

    for result in report.results:
        # Relay answers and driver errors come from outside: one line each, whatever they hold.
        typer.echo(f"{'ok  ' if result.ok else 'FAIL'} {result.name}: {escaped(result.text)}")
    if not report.records:
        return
    typer.echo("\nDNS records to publish, as zone-file lines (nothing was looked up: compare them with what "
               "is published):")
    for record in report.records:
        typer.echo(f"; {record.why}")
        typer.echo(zone_line(record))
