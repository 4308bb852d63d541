"""Schema versions (Alembic): which one a database is at, and bringing it to the current one.

A new, empty database gets the current tables and is marked current. Any other database must be
at the current revision before mailhub uses it; `mailhub db upgrade` takes it there with its
data kept. A database made before mailhub versioned its schema has tables but no version: it is
treated as the first release (revision 0001), whose later additions the next revision makes
only where they are missing."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from mailhub.db import writing

HEAD = "0009"  # the revision this code needs; tests check it is the newest in migrations/versions
FIRST = "0001"
SCRIPTS = Path(__file__).parent / "migrations"
UPGRADE = "mailhub db upgrade"


@dataclass(frozen=True)
class Schema:
    state: str  # "empty", "unversioned" (made before versions), "current", "older", "newer"
    revision: Optional[str]  # what the database says it is at

    def problem(self, url: str) -> Optional[str]:
        where = f"database {url}"
        if self.state == "unversioned":
            return f"{where} was made by an earlier mailhub (before schema versions): run `{UPGRADE}`"
        if self.state == "older":
            return f"{where} is at schema {self.revision}, this mailhub needs {HEAD}: run `{UPGRADE}`"
        if self.state == "newer":
            return (f"{where} is at schema {self.revision}, newer than this mailhub knows ({HEAD}): "
                    "run the mailhub that upgraded it, or a newer one")
        return None


def _known_revisions() -> set[str]:
    return {p.name.split("_", 1)[0] for p in (SCRIPTS / "versions").glob("[0-9]*_*.py")}


def schema_of(conn: Connection) -> Schema:
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if revision == HEAD:
            return Schema("current", revision)
        return Schema("older" if revision in _known_revisions() else "newer", revision)
    if tables & set(SQLModel.metadata.tables):
        return Schema("unversioned", None)
    return Schema("empty", None)


@contextmanager
def _schema_lock(engine: Engine, copies_tables: bool = False) -> Iterator[Connection]:
    """One transaction at a time may look at and change the schema, so that two services started
    together on a new database do not both create it.

    `copies_tables`: SQLite changes a column by copying its table into a new one (Alembic's batch
    mode), and dropping the old copy of a table that others refer to fails while foreign keys are
    enforced. SQLite ignores that switch inside a transaction, so it is turned off before, the keys
    are checked before the commit, and it is turned on again after."""
    relaxed = copies_tables and engine.dialect.name == "sqlite"
    with writing(engine), engine.connect() as conn:
        if relaxed:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(727465)"))  # any constant of ours
                else:
                    # Python's sqlite3 opens a transaction only before INSERT/UPDATE/DELETE, so without
                    # this each CREATE or ALTER would commit alone and a failed upgrade stay half done.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first() if relaxed else None
                if broken:
                    raise SchemaError(f"the upgrade would leave table {broken[0]} row {broken[1]} referring to "
                                      f"a missing row of {broken[2]}")
        finally:
            if relaxed:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def _stamp(conn: Connection, revision: str) -> None:
    conn.execute(text("CREATE TABLE IF NOT EXISTS alembic_version "
                      "(version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
    conn.execute(text("DELETE FROM alembic_version"))
    conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:r)"), {"r": revision})


def _create(conn: Connection) -> None:
    SQLModel.metadata.create_all(conn)
    _stamp(conn, HEAD)


def open_schema(engine: Engine) -> None:
    """What every command does on opening the database: create it if it is new, otherwise
    require the current schema (StoreError-worthy problems are raised as RuntimeError text)."""
    with _schema_lock(engine) as conn:
        schema = schema_of(conn)
        if schema.state == "empty":
            _create(conn)
            return
    found = schema.problem(engine.url.render_as_string(hide_password=True))
    if found:
        raise SchemaError(found)


class SchemaError(Exception):
    """The database is not at the schema this code needs."""


def problem(engine: Engine) -> Optional[str]:
    """None when the database is at the schema this code needs (or is new and will be made on
    first use); otherwise one line saying what is wrong and the command to run."""
    with engine.connect() as conn:
        return schema_of(conn).problem(engine.url.render_as_string(hide_password=True))


def upgrade(engine: Engine) -> tuple[Schema, str]:
    """Bring the database to HEAD; returns what it was and what it is now."""
    with _schema_lock(engine, copies_tables=True) as conn:
        before = schema_of(conn)
        if before.state == "empty":
            _create(conn)
            return before, HEAD
        if before.state == "newer":
            raise SchemaError(before.problem(engine.url.render_as_string(hide_password=True)) or "")
        if before.state == "unversioned":
            _stamp(conn, FIRST)
        migrate_to(conn, HEAD)
    return before, HEAD


def migrate_to(conn: Connection, revision: str) -> None:
    """Run the migrations from the database's revision (none: an empty database) to `revision`,
    in the caller's transaction."""
    from alembic import command  # only upgrades pay for importing Alembic
    from alembic.config import Config as AlembicConfig

    settings = AlembicConfig()
    settings.set_main_option("script_location", str(SCRIPTS))
    settings.attributes["connection"] = conn
    command.upgrade(settings, revision)
