"""casino inbox settings and retention: the categories each member muted per channel, and an
index on `notifications.created_at` for the retention job

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = postgresql.ARRAY(sa.String(length=32))


def upgrade() -> None:
    op.create_table(
        "notification_settings",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("muted_live", CATEGORIES, nullable=False),
        sa.Column("muted_push", CATEGORIES, nullable=False),
        sa.Column("muted_email", CATEGORIES, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["casino.users.account_id"],
            name=op.f("fk_notification_settings_user_id_users"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_settings")),
        schema="casino",
    )  # fmt: skip
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"], schema="casino")


def downgrade() -> None:
    op.drop_index("ix_notifications_created_at", table_name="notifications", schema="casino")
    op.drop_table("notification_settings", schema="casino")
