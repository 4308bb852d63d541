"""Everything added before mailhub versioned its schema (threading, attachments, membership by
mail, digests, bounces, deliverability): new tables, columns with the defaults older rows need,
and indexes.

A database made before this revision existed carries no version; `mailhub db upgrade` marks it
0001 and runs this. Such a database may come from any release in between, each of which made its
tables whole (older code refused to open a database that lacked columns), so every step here
adds only what is missing.

Revision ID: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Text = sqlmodel.sql.sqltypes.AutoString
When = sqlmodel.sql.sqltypes.UTCDateTime


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def _indexes(table: str) -> set[str]:
    return {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(table)}


def _create_table(name: str, *elements: sa.SchemaItem) -> None:
    if name not in _tables():
        op.create_table(name, *elements)


def _create_index(name: str, table: str, columns: list[str]) -> None:
    if name not in _indexes(table):
        op.create_index(name, table, columns, unique=False)


def _add_columns(table: str, *columns: sa.Column) -> None:
    missing = [c for c in columns if c.name not in _columns(table)]
    if not missing:
        return
    # A NOT NULL column needs a value for the rows already there: its server default.
    for column in missing:
        op.add_column(table, column)


def _add_reference(table: str, column: str, target: str) -> None:
    """A nullable column referring to `target`'s ids, named as PostgreSQL names the foreign keys
    that a new database gets. SQLite cannot add a constraint to a table, but it can add a
    column that carries one (without copying the table, as Alembic's batch mode would)."""
    if column in _columns(table):
        return
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER REFERENCES {target} (id)")
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(f"{table}_{column}_fkey", table, target, [column], ["id"])


def upgrade() -> None:
    _create_table(
        "digest_issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("period", Text(), nullable=False),
        sa.Column("starts_at", When(), nullable=False),
        sa.Column("ends_at", When(), nullable=False),
        sa.Column("zone", Text(), nullable=False),
        sa.Column("subject", Text(), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("created_at", When(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _create_index("ix_digest_issues_group_id", "digest_issues", ["group_id"])
    _create_table(
        "digest_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("period", Text(), nullable=False),
        sa.Column("starts_at", When(), nullable=False),
        sa.Column("ends_at", When(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("created_at", When(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.ForeignKeyConstraint(["issue_id"], ["digest_issues.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id", "ends_at"),
    )
    _create_index("ix_digest_marks_group", "digest_marks", ["group_id", "ends_at"])
    _create_table(
        "topic_prefs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("mode", Text(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"]),
        sa.ForeignKeyConstraint(["topic_id"], ["topics.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id", "topic_id"),
    )
    _create_index("ix_topic_prefs_topic", "topic_prefs", ["topic_id"])
    _create_table(
        "message_refs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=False),
        sa.Column("ref_id", Text(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.ForeignKeyConstraint(["message_pk"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_pk", "ref_id"),
    )
    _create_index("ix_message_refs_ref", "message_refs", ["group_id", "ref_id"])
    _create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", Text(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("purpose", Text(), nullable=False),
        sa.Column("email", Text(), nullable=False),
        sa.Column("name", Text(), nullable=False),
        sa.Column("message_pk", sa.Integer(), nullable=True),
        sa.Column("created_at", When(), nullable=False),
        sa.Column("expires_at", When(), nullable=True),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.ForeignKeyConstraint(["message_pk"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    _create_index("ix_tokens_group_id", "tokens", ["group_id"])
    _create_index("ix_tokens_message_pk", "tokens", ["message_pk"])

    _add_columns(
        "groups",
        sa.Column("join_policy", Text(), nullable=False, server_default="confirm"),
        sa.Column("rate_limit", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("new_member_moderation", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("who", Text(), nullable=False, server_default="moderators"),
        sa.Column("digest_daily", Text(), nullable=True),
        sa.Column("digest_weekly", Text(), nullable=True),
        sa.Column("timezone", Text(), nullable=True),
        sa.Column("digest_quiet", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("max_attachment_size", sa.Integer(), nullable=False, server_default=str(1024 * 1024)),
    )
    _add_columns(
        "members",
        sa.Column("plain", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("moderated", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("new_member", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("organisation", Text(), nullable=False, server_default=""),
        sa.Column("country", Text(), nullable=False, server_default=""),
        sa.Column("bio", Text(), nullable=False, server_default=""),
        sa.Column("timezone", Text(), nullable=True),
        sa.Column("bounce_score", sa.Float(), nullable=False, server_default="0"),
        sa.Column("bounce_counted_at", When(), nullable=True),
        sa.Column("temporary_since", When(), nullable=True),
        sa.Column("disabled_at", When(), nullable=True),
        sa.Column("warnings", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("warned_at", When(), nullable=True),
    )
    _add_columns(
        "messages",
        sa.Column("new_text", Text(), nullable=False, server_default=""),
        sa.Column("thread_index", Text(), nullable=False, server_default=""),
        sa.Column("attachments", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("posted_at", When(), nullable=True),
    )
    # Before posted_at, a post was published as it was processed: its arrival is the nearest
    # time we have, and digests and the archive order by it.
    op.execute("UPDATE messages SET posted_at = received_at WHERE state = 'posted' AND posted_at IS NULL")
    _create_index("ix_messages_conversation", "messages", ["group_id", "thread_index"])
    _create_index("ix_messages_posted", "messages", ["group_id", "posted_at"])
    _create_index("ix_messages_sender", "messages", ["group_id", "from_addr", "received_at"])
    _add_reference("outbox", "digest_pk", "digest_issues")
    _create_index("ix_outbox_recipient", "outbox", ["recipient", "created_at"])
    _add_reference("topics", "merged_into", "topics")


def downgrade() -> None:
    raise NotImplementedError("mailhub databases only go forward; restore a backup to go back")
