"""casino activity: action types (seeded) and actions, game sessions (one open per member),
achievement progress

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GAME_TYPE = postgresql.ENUM("slot", "gacha", name="game_type", schema="casino", create_type=False)

SEEDED_ACTION_TYPES = {
    "LOGIN": "The member logged in (or opened the app logged in).",
    "LOGOUT": "The member logged out.",
    "SLOT_SPIN": "A slot spin.",
    "GACHA_SPIN": "A gacha pull or 10-pull.",
    "SHOP_PURCHASE": "A shop purchase.",
    "REWARD_CLAIM": "A reward claimed.",
    "PAGE_VIEW": "A screen the client showed.",
    "BUTTON_CLICK": "A button the member pressed.",
    "SESSION_START": "A game session started.",
    "SESSION_END": "A game session ended.",
    "ACHIEVEMENT_VIEW": "The member opened the achievements screen.",
    "LEADERBOARD_VIEW": "The member opened a leaderboard.",
}
SEEDED_AT = datetime(2026, 12, 7, tzinfo=UTC)
"""A copy of `actions.domain.SEEDED_ACTION_TYPES` as of this revision (a test compares)."""


def _users_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"],
        ["casino.users.account_id"],
        name=op.f(f"fk_{table}_user_id_users"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    action_types = op.create_table(
        "action_types",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_action_types")),
        schema="casino",
    )
    op.create_table(
        "actions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("action_type", sa.String(length=64), nullable=False),
        sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_type"],
            ["casino.action_types.code"],
            name=op.f("fk_actions_action_type_action_types"),
        ),
        _users_fk("actions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        schema="casino",
    )
    op.create_index("ix_actions_user_id", "actions", ["user_id", "id"], schema="casino")
    op.create_table(
        "game_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("game_type", GAME_TYPE, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        _users_fk("game_sessions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_game_sessions")),
        schema="casino",
    )
    op.create_index(
        "uq_game_sessions_one_open",
        "game_sessions",
        ["user_id"],
        unique=True,
        schema="casino",
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_index(
        "ix_game_sessions_user_started",
        "game_sessions",
        ["user_id", "started_at"],
        schema="casino",
    )
    op.create_table(
        "achievement_progress",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("progress", sa.BigInteger(), nullable=False),
        sa.Column("unlocked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _users_fk("achievement_progress"),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_achievement_progress")),
        schema="casino",
    )
    op.bulk_insert(
        action_types,
        [
            {"code": code, "description": description, "created_by": None, "created_at": SEEDED_AT}
            for code, description in SEEDED_ACTION_TYPES.items()
        ],
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("achievement_progress", schema="casino")
    op.drop_table("game_sessions", schema="casino")
    op.drop_table("actions", schema="casino")
    op.drop_table("action_types", schema="casino")
