"""focus live: room chat (`focus.room_messages`)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "room_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["focus.rooms.id"], name=op.f("fk_room_messages_room_id_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["focus.users.account_id"], name=op.f("fk_room_messages_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_messages")),
        schema="focus",
    )
    op.create_index(
        op.f("ix_focus_room_messages_room_id"),
        "room_messages",
        ["room_id", "created_at", "id"],
        unique=False,
        schema="focus",
    )


def downgrade() -> None:
    op.drop_table("room_messages", schema="focus")
