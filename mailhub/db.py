"""The engine: SQLite in WAL mode with fsync on commit, so a 250 means the mail is on disk."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from mailhub import models  # noqa: F401  (registers the tables)


class StoreError(Exception):
    """The database could not be opened or written."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def make_engine(url: str, create: bool = True) -> Engine:
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        folder = Path(url[len("sqlite:///"):]).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create database folder {folder}: {exc.strerror}") from None
    engine = create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if create:
        try:
            SQLModel.metadata.create_all(engine)
        except Exception as exc:  # noqa: BLE001 - reported to the person, with the cause
            raise StoreError(f"cannot open database {url}: {exc}") from None
    return engine
