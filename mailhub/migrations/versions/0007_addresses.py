"""Addresses hidden: whether a group shows members' addresses to each other. Groups made before
keep showing them (what their members know); new groups hide them (the model's default).

Revision ID: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("groups", sa.Column("addresses", sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                      server_default="shown"))


def downgrade() -> None:
    raise NotImplementedError("mailhub databases only go forward; restore a backup to go back")
