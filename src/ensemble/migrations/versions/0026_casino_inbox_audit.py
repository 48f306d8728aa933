"""casino inbox and audit: members' notifications with gap-free ids per member, and the
append-only log of admin actions (a trigger refuses UPDATE and DELETE)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USERS = "casino.users.account_id"


def upgrade() -> None:
    op.create_table(
        "notification_cursors",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], [USERS], name=op.f("fk_notification_cursors_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_cursors")),
        schema="casino",
    )  # fmt: skip
    op.create_table(
        "notifications",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=2000), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], [USERS], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_notifications")),
        schema="casino",
    )
    op.create_index(
        "ix_notifications_unread", "notifications", ["user_id", "id"], schema="casino",
        postgresql_where=sa.text("read_at IS NULL"),
    )  # fmt: skip
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("admin_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        schema="casino",
    )
    op.create_index("ix_audit_log_admin", "audit_log", ["admin_id", "id"], schema="casino")
    op.create_index(
        "ix_audit_log_target", "audit_log", ["target_type", "target_id", "id"], schema="casino"
    )
    op.execute(
        "CREATE FUNCTION casino.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION 'casino.audit_log is append-only' USING ERRCODE = '42501'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON casino.audit_log"
        " FOR EACH ROW EXECUTE FUNCTION casino.audit_log_append_only()"
    )


def downgrade() -> None:
    op.drop_table("audit_log", schema="casino")
    op.execute("DROP FUNCTION casino.audit_log_append_only()")
    op.drop_table("notifications", schema="casino")
    op.drop_table("notification_cursors", schema="casino")
