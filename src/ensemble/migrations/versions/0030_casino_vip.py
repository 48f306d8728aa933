"""casino VIP, missions: VIP tiers (seeded rules and benefits), members' VIP standings and
tier history, gacha banners' minimum VIP tier, missions (seeded) and members' progress

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-08
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USERS = "casino.users.account_id"
TZ = sa.DateTime(timezone=True)
SEEDED_AT = datetime(2026, 12, 8, tzinfo=UTC)

TIERS = [
    # tier, name, min gems spent, min active days (over 30 days), shop discount %, daily coins
    (0, "Member", 0, 0, 0, 0),
    (1, "Bronze", 0, 5, 2, 20),
    (2, "Silver", 100, 10, 5, 50),
    (3, "Gold", 500, 15, 8, 100),
    (4, "Platinum", 2000, 20, 10, 200),
]
MISSIONS = [
    # key, title, action type, target, context filter, window, reward (coins | item), order
    ("daily-login", "Drop by", "LOGIN", 1, None, "daily", 50, None, 10),
    ("daily-spins", "Ten spins", "SLOT_SPIN", 10, None, "daily", 100, None, 20),
    ("weekly-high-roller", "High roller", "SLOT_SPIN", 20, ("bet", 100), "weekly", None,
     "streak-shield", 30),
    ("weekly-pulls", "Collector's week", "GACHA_SPIN", 10, None, "weekly", 300, None, 40),
    ("first-purchase", "First purchase", "SHOP_PURCHASE", 1, None, "once", 200, None, 50),
]  # fmt: skip
DESCRIPTIONS = {
    "daily-login": "Log in today.",
    "daily-spins": "Spin the slot 10 times today.",
    "weekly-high-roller": "Spin the slot 20 times this week with a bet of 100 coins or more.",
    "weekly-pulls": "Pull the gacha 10 times this week.",
    "first-purchase": "Buy anything in the shop.",
}


def _vip() -> None:
    tiers = op.create_table(
        "vip_tiers",
        sa.Column("tier", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("min_gem_spend", sa.BigInteger(), nullable=False),
        sa.Column("min_active_days", sa.Integer(), nullable=False),
        sa.Column("shop_discount_percent", sa.SmallInteger(), nullable=False),
        sa.Column("daily_bonus_coins", sa.Integer(), nullable=False),
        sa.CheckConstraint("tier >= 0", name=op.f("ck_vip_tiers_tier_not_negative")),
        sa.CheckConstraint(
            "min_gem_spend >= 0 AND min_active_days >= 0",
            name=op.f("ck_vip_tiers_thresholds_not_negative"),
        ),
        sa.CheckConstraint(
            "shop_discount_percent BETWEEN 0 AND 90",
            name=op.f("ck_vip_tiers_shop_discount_percent_in_range"),
        ),
        sa.CheckConstraint(
            "daily_bonus_coins >= 0", name=op.f("ck_vip_tiers_daily_bonus_coins_not_negative")
        ),
        sa.PrimaryKeyConstraint("tier", name=op.f("pk_vip_tiers")),
        schema="casino",
    )
    op.create_table(
        "vip_standings",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("period_ends_at", TZ, nullable=False),
        sa.Column("in_grace", sa.Boolean(), nullable=False),
        sa.Column("last_active_day", sa.Date(), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], [USERS], name=op.f("fk_vip_standings_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_vip_standings")),
        schema="casino",
    )
    op.create_index(
        op.f("ix_casino_vip_standings_period_ends_at"), "vip_standings", ["period_ends_at"],
        schema="casino",
    )  # fmt: skip
    op.create_table(
        "vip_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("from_tier", sa.SmallInteger(), nullable=False),
        sa.Column("to_tier", sa.SmallInteger(), nullable=False),
        sa.Column("move", sa.String(length=16), nullable=False),
        sa.Column("gem_spend", sa.BigInteger(), nullable=False),
        sa.Column("active_days", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], [USERS], name=op.f("fk_vip_history_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vip_history")),
        schema="casino",
    )
    op.create_index("ix_vip_history_user", "vip_history", ["user_id", "at", "id"], schema="casino")
    op.add_column(
        "gacha_banners",
        sa.Column("min_vip_tier", sa.SmallInteger(), server_default="0", nullable=False),
        schema="casino",
    )
    op.bulk_insert(
        tiers,
        [
            {"tier": tier, "name": name, "min_gem_spend": gems, "min_active_days": days,
             "shop_discount_percent": discount, "daily_bonus_coins": coins}
            for tier, name, gems, days, discount, coins in TIERS
        ],
    )  # fmt: skip


def _missions() -> None:
    missions = op.create_table(
        "missions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("action_type", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("context_key", sa.String(length=64), nullable=True),
        sa.Column("context_min", sa.BigInteger(), nullable=True),
        sa.Column("window_kind", sa.String(length=8), nullable=False),
        sa.Column("reward_kind", sa.String(length=8), nullable=False),
        sa.Column("reward_amount", sa.Integer(), nullable=True),
        sa.Column("reward_item_id", sa.String(length=64), nullable=True),
        sa.Column("reward_quantity", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint("target >= 1", name=op.f("ck_missions_target_positive")),
        sa.CheckConstraint(
            "window_kind IN ('daily', 'weekly', 'once')", name=op.f("ck_missions_window_known")
        ),
        sa.CheckConstraint(
            "(context_key IS NULL) = (context_min IS NULL)", name=op.f("ck_missions_filter_whole")
        ),
        sa.CheckConstraint(
            "(reward_kind = 'coins' AND reward_amount > 0 AND reward_item_id IS NULL"
            " AND reward_quantity IS NULL) OR (reward_kind = 'item' AND reward_amount IS NULL"
            " AND reward_item_id IS NOT NULL AND reward_quantity > 0)",
            name=op.f("ck_missions_reward_fits_kind"),
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_missions")),
        schema="casino",
    )  # fmt: skip
    op.create_table(
        "mission_progress",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("mission_key", sa.String(length=64), nullable=False),
        sa.Column("window_label", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.BigInteger(), nullable=False),
        sa.Column("claimed_at", TZ, nullable=True),
        sa.Column("reward_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["mission_key"], ["casino.missions.key"],
            name=op.f("fk_mission_progress_mission_key_missions"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], [USERS], name=op.f("fk_mission_progress_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "mission_key", "window_label", name=op.f("pk_mission_progress")
        ),
        schema="casino",
    )  # fmt: skip
    op.bulk_insert(
        missions,
        [
            {"key": key, "title": title, "description": DESCRIPTIONS[key], "action_type": action,
             "target": target, "context_key": where[0] if where else None,
             "context_min": where[1] if where else None, "window_kind": window,
             "reward_kind": "coins" if coins else "item", "reward_amount": coins,
             "reward_item_id": item, "reward_quantity": 1 if item else None, "is_active": True,
             "sort_order": order, "created_at": SEEDED_AT, "updated_at": SEEDED_AT}
            for key, title, action, target, where, window, coins, item, order in MISSIONS
        ],
    )  # fmt: skip


def upgrade() -> None:
    _vip()
    _missions()


def downgrade() -> None:
    op.drop_table("mission_progress", schema="casino")
    op.drop_table("missions", schema="casino")
    op.drop_column("gacha_banners", "min_vip_tier", schema="casino")
    op.drop_table("vip_history", schema="casino")
    op.drop_table("vip_standings", schema="casino")
    op.drop_table("vip_tiers", schema="casino")
