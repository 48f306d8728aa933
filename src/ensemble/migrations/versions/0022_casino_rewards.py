"""casino rewards: grants (once per idempotency key), login streaks, the days claimed, and
the members' time zone

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REWARD_KIND = sa.Enum("coins", "gems", "item", name="reward_kind", schema="casino")


def _user_id(table: str) -> list[sa.schema.SchemaItem]:
    """The member column of a table, gone with the member."""
    return [
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["casino.users.account_id"],
            name=op.f(f"fk_{table}_user_id_users"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
        schema="casino",
    )
    op.create_table(
        "rewards",
        sa.Column("id", sa.Uuid(), nullable=False),
        *_user_id("rewards"),
        sa.Column("kind", REWARD_KIND, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("item_id", sa.String(length=64), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("granted_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reversed_by", sa.Uuid(), nullable=True),
        sa.Column("reverse_reason", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "(kind = 'item' AND amount IS NULL AND item_id IS NOT NULL AND quantity > 0)"
            " OR (kind <> 'item' AND amount > 0 AND item_id IS NULL AND quantity IS NULL)",
            name=op.f("ck_rewards_content_fits_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["casino.items.item_id"], name=op.f("fk_rewards_item_id_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rewards")),
        sa.UniqueConstraint("user_id", "idempotency_key", name=op.f("uq_rewards_user_id")),
        schema="casino",
    )
    op.create_index(
        "ix_rewards_user_created", "rewards", ["user_id", "created_at", "id"], schema="casino"
    )
    op.create_table(
        "streaks",
        *_user_id("streaks"),
        sa.Column("current", sa.Integer(), nullable=False),
        sa.Column("longest", sa.Integer(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "current >= 0 AND longest >= current", name=op.f("ck_streaks_counts_consistent")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_streaks")),
        schema="casino",
    )
    op.create_table(
        "streak_days",
        *_user_id("streak_days"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("streak_day", sa.Integer(), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=True),
        sa.Column("shield_used", sa.Boolean(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("streak_day >= 1", name=op.f("ck_streak_days_streak_day_positive")),
        sa.ForeignKeyConstraint(
            ["reward_id"],
            ["casino.rewards.id"],
            name=op.f("fk_streak_days_reward_id_rewards"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_streak_days")),
        schema="casino",
    )


def downgrade() -> None:
    op.drop_table("streak_days", schema="casino")
    op.drop_table("streaks", schema="casino")
    op.drop_table("rewards", schema="casino")
    REWARD_KIND.drop(op.get_bind(), checkfirst=False)
    op.drop_column("users", "time_zone", schema="casino")
