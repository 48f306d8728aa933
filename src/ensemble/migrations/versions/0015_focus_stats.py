"""focus stats: achievement unlocks (one per user and code; the catalogue is code) and the
rooms each user created

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "achievement_unlocks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("unlocked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "code", name=op.f("pk_achievement_unlocks")),
        schema="focus",
    )
    op.create_table(
        "hosted_rooms",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "room_id", name=op.f("pk_hosted_rooms")),
        schema="focus",
    )


def downgrade() -> None:
    op.drop_table("hosted_rooms", schema="focus")
    op.drop_table("achievement_unlocks", schema="focus")
