"""Mail for the site rather than a group: postmaster@ and abuse@ are stored and forwarded like
any other mail, so `messages.group_id` and `outbox.group_id` may be empty for them.

SQLite cannot drop a NOT NULL, so Alembic's batch mode copies each table into a new one (with
foreign keys checked after the copy: see `migrate._schema_lock`).

Revision ID: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("messages", "outbox"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("group_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    raise NotImplementedError("mailhub databases only go forward; restore a backup to go back")
