"""focus messages: 1:1 conversations (one per pair), their members' read marks, messages,
blocks; notifications (the inbox) and push devices

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USERS = "focus.users.account_id"


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_low", sa.Uuid(), nullable=False),
        sa.Column("user_high", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_message_id", sa.Uuid(), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("user_low < user_high", name=op.f("ck_conversations_ordered_pair")),
        sa.ForeignKeyConstraint(
            ["user_low"], [USERS], name=op.f("fk_conversations_user_low_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_high"],
            [USERS],
            name=op.f("fk_conversations_user_high_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("user_low", "user_high", name=op.f("uq_conversations_user_low")),
        schema="focus",
    )
    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("peer_id", sa.Uuid(), nullable=False),
        sa.Column("last_read_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["focus.conversations.id"],
            name=op.f("fk_conversation_members_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name=op.f("pk_conversation_members")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_conversation_members_user_id"),
        "conversation_members",
        ["user_id"],
        unique=False,
        schema="focus",
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["focus.conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("conversation_id", "seq", name=op.f("uq_messages_conversation_id")),
        schema="focus",
    )
    op.create_table(
        "blocks",
        sa.Column("blocker_id", sa.Uuid(), nullable=False),
        sa.Column("blocked_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blocker_id"], [USERS], name=op.f("fk_blocks_blocker_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["blocked_id"], [USERS], name=op.f("fk_blocks_blocked_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("blocker_id", "blocked_id", name=op.f("pk_blocks")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_blocks_blocked_id"), "blocks", ["blocked_id"], unique=False, schema="focus"
    )
    op.create_index(
        op.f("ix_focus_blocks_blocker_id"),
        "blocks",
        ["blocker_id", "created_at"],
        unique=False,
        schema="focus",
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=2000), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], [USERS], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("user_id", "source", name=op.f("uq_notifications_user_id")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_notifications_user_id"),
        "notifications",
        ["user_id", "id"],
        unique=False,
        schema="focus",
    )
    op.create_index(
        "ix_focus_notifications_unread",
        "notifications",
        ["user_id", "id"],
        unique=False,
        schema="focus",
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.create_table(
        "devices",
        sa.Column("token", sa.String(length=512), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "platform",
            sa.Enum("ios", "android", "web", name="device_platform", schema="focus"),
            nullable=False,
        ),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], [USERS], name=op.f("fk_devices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_devices")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_devices_user_id"), "devices", ["user_id"], unique=False, schema="focus"
    )


def downgrade() -> None:
    for table in (
        "devices",
        "notifications",
        "blocks",
        "messages",
        "conversation_members",
        "conversations",
    ):
        op.drop_table(table, schema="focus")  # with its indexes
    op.execute("DROP TYPE focus.device_platform")
