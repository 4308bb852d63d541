"""Languages: a group's and a member's own, and the one a stranger's join request declared
(kept on the token until they confirm).

Revision ID: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding a nullable column is an in-place ALTER on both SQLite and PostgreSQL: no table copy.
    for table in ("groups", "members", "tokens"):
        op.add_column(table, sa.Column("language", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("mailhub databases only go forward; restore a backup to go back")
