"""`mailhub db`: the database's schema version, and upgrading it."""
from __future__ import annotations

import typer

from mailhub.cli.common import ConfigOpt, fail, load
from mailhub.cli.conventions import Typer

db_app = Typer(help="The database's schema: see it, upgrade it.")


def _engine(config: ConfigOpt):  # noqa: ANN202
    from mailhub.db import StoreError, make_engine

    try:
        return make_engine(load(config).database.url, create=False)
    except StoreError as exc:
        fail(str(exc))


@db_app.command("upgrade", short_help="Bring the database to this mailhub's schema, keeping its data.")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Bring the database to the schema this mailhub needs, keeping its data (back it up first).
    Safe to run again; stop every `mailhub serve` that uses the database before running it."""
    from mailhub.migrate import SchemaError, upgrade

    engine = _engine(config)
    try:
        before, now = upgrade(engine)
    except SchemaError as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - the database's own words, on one line
        fail(f"upgrade failed, nothing was changed: {exc}")
    finally:
        engine.dispose()
    if before.state == "current":
        typer.echo(f"the database is already at schema {now}")
    elif before.state == "empty":
        typer.echo(f"created a new database at schema {now}")
    else:
        typer.echo(f"upgraded the database from schema {before.revision or 'before versions'} to {now}")


@db_app.command("status", short_help="The database's schema and the one this mailhub needs.")
def db_status(config: ConfigOpt = None) -> None:
    """The schema the database is at and the one this mailhub needs; exit 1 if they differ."""
    from mailhub.migrate import HEAD, problem

    engine = _engine(config)
    try:
        found = problem(engine)
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot read the database: {exc}")
    finally:
        engine.dispose()
    if found:
        fail(found)
    typer.echo(f"the database is at schema {HEAD} (current)")
