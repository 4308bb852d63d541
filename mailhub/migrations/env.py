"""Alembic's entry point, run by `mailhub.migrate`: migrations run on the connection it hands over."""
from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from mailhub import models  # noqa: F401  (registers the tables)

connection = context.config.attributes["connection"]
# Batch mode: SQLite cannot ALTER most things, so Alembic copies such a table into a new one.
context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=True,
                  transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
