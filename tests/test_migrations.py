"""Schema versions: every released schema upgrades to the current one with its mail, members and
queue kept, and nothing runs on a database that is not current."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, create_engine
from sqlmodel import SQLModel

from conftest import DOMAIN, Env, postgres
from mailhub import migrate
from mailhub.db import make_engine

SCHEMAS = sorted((Path(__file__).parent / "data" / "schemas").glob("*.sql"))
OLD = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
OLD_MAIL = (b"From: Ann <ann@example.com>\r\nTo: mentors@lists.example.org\r\nSubject: Pricing a first product\r\n"
            b"Message-ID: <old1@example.com>\r\nDate: Mon, 02 Mar 2026 09:30:00 +0000\r\n\r\n"
            b"How did you set your first prices?\r\n")


def fill_first_release(conn) -> None:  # noqa: ANN001
    """A group with two members, one posted message in one topic and a copy still queued (ids 1, 2
    as a new database numbers them), in the
    first release's columns. A later release's extra columns get what its code would have
    written for such rows: empty, zero, false."""
    rows = {
        "groups": [dict(name="mentors", title="Mentors", description="", policy="members",
                        subject_prefix=None, include_author=True, from_rewrite=True, created_at=OLD)],
        "members": [dict(group_id=1, email=email, name="", role="member", delivery="each",
                         token=f"tok-{i}", created_at=OLD)
                    for i, email in enumerate(["ann@example.com", "bea@example.com"], 1)],
        "topics": [dict(group_id=1, key="k0ld1", subject="Pricing a first product",
                        subject_key="pricing a first product", created_at=OLD, last_message_at=OLD,
                        message_count=1)],
        "messages": [dict(group_id=1, channel="post", address_token=None, rcpt="mentors@lists.example.org",
                          envelope_from="ann@example.com", message_id="old1@example.com", raw=OLD_MAIL,
                          received_at=OLD, state="posted", reason="", attempts=1, from_addr="ann@example.com",
                          from_name="Ann", subject="Pricing a first product",
                          body_text="How did you set your first prices?", topic_id=1, sent_at=OLD)],
        "outbox": [dict(key="copy:1:2", kind="copy", message_pk=1, member_id=2, group_id=1,
                        recipient="bea@example.com", payload=None, state="pending", attempts=0,
                        next_attempt_at=OLD, last_error="", created_at=OLD)],
    }
    for name, table_rows in rows.items():
        table = Table(name, MetaData(), autoload_with=conn)
        later = {c.name: _zero(c.type) for c in table.columns
                 if not c.nullable and c.name not in table_rows[0] and not c.primary_key}
        conn.execute(table.insert(), [{**later, **row} for row in table_rows])


def _zero(kind) -> object:  # noqa: ANN001
    name = type(kind).__name__.upper()
    if "JSON" in name:
        return []
    if "BOOL" in name:
        return False
    if "INT" in name or "FLOAT" in name or "REAL" in name or "NUMERIC" in name:
        return 0
    return ""


def differences(engine) -> list:  # noqa: ANN001
    """What Alembic finds between the database and the code's tables (the search index, which
    SQLite keeps outside them, aside)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_name": lambda name, kind, _parents: not (kind == "table" and name.startswith("message_search"))})
        return compare_metadata(context, SQLModel.metadata)


def legacy_database(env: Env, schema: Path) -> str:
    """A database as the release that made `schema` left it: its tables, the first release's
    data, no version."""
    url = env.config.database.url
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        db.executescript(schema.read_text())
    with create_engine(url).begin() as conn:
        fill_first_release(conn)
    return url


def check_kept_and_working(env: Env, sink) -> None:  # noqa: ANN001
    """The upgraded database serves: the queued copy goes out, a reply joins the old topic."""
    env.start()
    assert sink.wait("bea@example.com")[0]["Message-ID"] == "<old1@example.com>"
    env.send(b"From: Bea <bea@example.com>\r\nTo: mentors@lists.example.org\r\nSubject: Re: Pricing a first product"
             b"\r\nMessage-ID: <reply1@example.com>\r\nIn-Reply-To: <old1@example.com>\r\n\r\nCost plus 30%.\r\n",
             [f"mentors@{DOMAIN}"], mail_from="bea@example.com")
    sink.wait("ann@example.com")
    topic = json.loads(env.cli("topic", "show", "1", "--json").output)
    assert [m["subject"] for m in topic["messages"]] == ["Pricing a first product", "Re: Pricing a first product"]
    members = json.loads(env.cli("member", "list", "mentors", "--json").output)
    assert sorted(m["email"] for m in members) == ["ann@example.com", "bea@example.com"]


@pytest.mark.parametrize("schema", SCHEMAS, ids=[s.stem for s in SCHEMAS])
def test_each_released_schema_upgrades_with_its_data(env, sink, schema):
    legacy_database(env, schema)
    refused = env.cli("group", "list", ok=False)
    assert refused.exit_code == 1 and "run `mailhub db upgrade`" in refused.output

    done = env.cli("db", "upgrade")
    assert f"to {migrate.HEAD}" in done.output
    assert differences(make_engine(env.config.database.url, create=False)) == []
    assert "already at schema" in env.cli("db", "upgrade").output  # a second run changes nothing
    check_kept_and_working(env, sink)


def test_the_service_refuses_an_unmigrated_database_and_names_the_command(env):
    legacy_database(env, SCHEMAS[0])
    from mailhub.cli import app
    result = env.runner.invoke(app, ["serve", "--config", str(env.path)])
    assert result.exit_code == 1
    assert "made by an earlier mailhub" in result.output and "run `mailhub db upgrade`" in result.output
    assert env.cli("db", "status", ok=False).exit_code == 1


def test_a_database_from_a_newer_mailhub_is_left_alone(env):
    env.cli("group", "create", "mentors")
    with sqlite3.connect(env.config.database.url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    for args in (("group", "list"), ("db", "upgrade")):
        result = env.cli(*args, ok=False)
        assert result.exit_code == 1 and "newer than this mailhub knows" in result.output


def test_an_upgrade_that_fails_changes_nothing(env):
    """A database that is no release's (here: a lone, odd `groups` table) cannot be upgraded;
    the attempt says so and leaves it as it was."""
    db = env.config.database.url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE groups (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL)")
    result = env.cli("db", "upgrade", ok=False)
    assert result.exit_code == 1 and "upgrade failed, nothing was changed" in result.output
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["groups"]
        assert [r[1] for r in conn.execute("PRAGMA table_info(groups)")] == ["id", "name"]


def test_migrations_from_nothing_make_what_a_new_database_gets(tmp_path):
    """A new database is made from the code's tables and marked current; running every migration
    on an empty one must give the same schema, or the two paths have drifted apart."""
    engine = make_engine(f"sqlite:///{tmp_path / 'stepwise.db'}", create=False)
    with engine.begin() as conn:
        migrate.migrate_to(conn, "head")
    assert differences(engine) == []
    assert ScriptDirectory(str(migrate.SCRIPTS)).get_current_head() == migrate.HEAD


def test_postgresql_from_the_first_release(tmp_path, sink):
    """The same upgrade on PostgreSQL, from a database at revision 0001 with the first release's
    data, through the service to delivery."""
    url = postgres().create_database()
    env = Env(tmp_path, sink.port, database=url)
    with create_engine(url).begin() as conn:
        migrate.migrate_to(conn, migrate.FIRST)
        fill_first_release(conn)
    try:
        refused = env.cli("group", "list", ok=False)
        assert "is at schema 0001, this mailhub needs" in refused.output
        assert "from schema 0001 to" in env.cli("db", "upgrade").output
        assert differences(make_engine(url, create=False)) == []
        check_kept_and_working(env, sink)
    finally:
        env.stop()
