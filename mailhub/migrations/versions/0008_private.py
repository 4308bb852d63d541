"""Private mail through the group: the safeguarding copy address, mentoring pairs, blocks between
members, and the log of relayed private mail (who, when, size; never the body).

Revision ID: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.add_column("groups", sa.Column("private_copy", _TEXT(), nullable=False, server_default=""))
    op.create_table(
        "pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("key", _TEXT(), nullable=False),
        sa.Column("mentor", _TEXT(), nullable=False),
        sa.Column("mentee", _TEXT(), nullable=False),
        sa.Column("started_at", _TIME(), nullable=False),
        sa.Column("ended_at", _TIME(), nullable=True),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_pairs_group_id", "pairs", ["group_id"])
    op.create_table(
        "blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("blocker", _TEXT(), nullable=False),
        sa.Column("blocked", _TEXT(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_id", "blocker", "blocked"),
    )
    op.create_table(
        "relay_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("kind", _TEXT(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=True),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("sender", _TEXT(), nullable=False),
        sa.Column("recipient", _TEXT(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("at", _TIME(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.ForeignKeyConstraint(["pair_id"], ["pairs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_pk", "recipient"),
    )
    op.create_index("ix_relay_log_sender", "relay_log", ["group_id", "sender", "at"])
    op.create_index("ix_relay_log_pair", "relay_log", ["pair_id", "at"])


def downgrade() -> None:
    raise NotImplementedError("mailhub databases only go forward; restore a backup to go back")
