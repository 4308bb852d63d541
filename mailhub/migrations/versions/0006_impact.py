"""Impact figures: a topic's solved mark, and a row for each member who left (members are deleted
when they leave; statistics count who was there at any date).

Revision ID: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("topics", sa.Column("solved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column("topics", sa.Column("solved_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_table(
        "departures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("why", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("joined_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("left_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_departures_group_id", "departures", ["group_id"])


def downgrade() -> None:
    raise NotImplementedError("mailhub databases only go forward; restore a backup to go back")
