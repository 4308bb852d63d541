"""Events: invitations posted to a group (an iCalendar object on a topic) and members' answers.

Revision ID: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("uid", _TEXT(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("title", _TEXT(), nullable=False),
        sa.Column("starts_at", _TIME(), nullable=False),
        sa.Column("ends_at", _TIME(), nullable=False),
        sa.Column("zone", _TEXT(), nullable=False),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("location", _TEXT(), nullable=False),
        sa.Column("description", _TEXT(), nullable=False),
        sa.Column("organizer", _TEXT(), nullable=False),
        sa.Column("rrule", _TEXT(), nullable=False),
        sa.Column("status", _TEXT(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("updated_at", _TIME(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.ForeignKeyConstraint(["topic_id"], ["topics.id"]),
        sa.ForeignKeyConstraint(["message_pk"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_id", "uid"),
    )
    op.create_index("ix_events_starts", "events", ["group_id", "starts_at"])
    op.create_index("ix_events_topic_id", "events", ["topic_id"])
    op.create_table(
        "rsvps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("email", _TEXT(), nullable=False),
        sa.Column("status", _TEXT(), nullable=False),
        sa.Column("answered_at", _TIME(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "email"),
    )


def downgrade() -> None:
    raise NotImplementedError("mailhub databases only go forward; restore a backup to go back")
