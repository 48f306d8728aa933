"""casino play: seed pairs (provably fair state), slot win streaks, gacha banners with
versioned rate tables, pity counters and pulls; the standard banner with its table v1

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
USERS = "casino.users.account_id"
BANNERS = "casino.gacha_banners.banner_id"

STANDARD_WEIGHTS = {"SSR": 60, "SR": 510, "R": 2430, "N": 7000}
"""0.6 %, 5.1 %, 24.3 %, 70 % (basis points), with the hard pity at 90."""


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], [USERS], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def _banner_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["banner_id"],
        [BANNERS],
        name=op.f(f"fk_{table}_banner_id_gacha_banners"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "seed_pairs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("server_seed", sa.String(length=64), nullable=False),
        sa.Column("server_seed_hash", sa.String(length=64), nullable=False),
        sa.Column("client_seed", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revealed_at", TZ, nullable=True),
        sa.CheckConstraint("nonce >= 0", name=op.f("ck_seed_pairs_nonce_not_negative")),
        _user_fk("seed_pairs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seed_pairs")),
        schema="casino",
    )
    op.create_index(
        "uq_seed_pairs_active",
        "seed_pairs",
        ["user_id"],
        unique=True,
        schema="casino",
        postgresql_where=sa.text("revealed_at IS NULL"),
    )
    op.create_index(
        "ix_seed_pairs_user_revealed",
        "seed_pairs",
        ["user_id", "revealed_at", "id"],
        schema="casino",
    )
    op.create_table(
        "slot_streaks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("current", sa.Integer(), nullable=False),
        sa.Column("best", sa.Integer(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint(
            "current >= 0 AND best >= current", name=op.f("ck_slot_streaks_streak_within_best")
        ),
        _user_fk("slot_streaks"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_slot_streaks")),
        schema="casino",
    )
    banners = op.create_table(
        "gacha_banners",
        sa.Column("banner_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("cost_single", sa.BigInteger(), nullable=False),
        sa.Column("cost_ten", sa.BigInteger(), nullable=False),
        sa.Column("hard_pity", sa.Integer(), nullable=False),
        sa.Column("starts_at", TZ, nullable=False),
        sa.Column("ends_at", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.CheckConstraint(
            "cost_single > 0 AND cost_ten > 0", name=op.f("ck_gacha_banners_costs_positive")
        ),
        sa.CheckConstraint("hard_pity >= 1", name=op.f("ck_gacha_banners_hard_pity_positive")),
        sa.PrimaryKeyConstraint("banner_id", name=op.f("pk_gacha_banners")),
        schema="casino",
    )
    tables = op.create_table(
        "gacha_rate_tables",
        sa.Column("banner_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", TZ, nullable=False),
        sa.Column("published_at", TZ, nullable=False),
        sa.Column("weights", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("pools", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_gacha_rate_tables_version_positive")),
        sa.CheckConstraint(
            "effective_from >= published_at",
            name=op.f("ck_gacha_rate_tables_published_before_effective"),
        ),
        _banner_fk("gacha_rate_tables"),
        sa.PrimaryKeyConstraint("banner_id", "version", name=op.f("pk_gacha_rate_tables")),
        schema="casino",
    )
    op.create_table(
        "gacha_pity",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("banner_id", sa.String(length=64), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint("counter >= 0", name=op.f("ck_gacha_pity_counter_not_negative")),
        _user_fk("gacha_pity"),
        _banner_fk("gacha_pity"),
        sa.PrimaryKeyConstraint("user_id", "banner_id", name=op.f("pk_gacha_pity")),
        schema="casino",
    )
    op.create_table(
        "gacha_pulls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hand_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("banner_id", sa.String(length=64), nullable=False),
        sa.Column("table_version", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("pity_before", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("shards", sa.Integer(), nullable=False),
        sa.Column("pulled_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["hand_id"],
            ["casino.hands.id"],
            name=op.f("fk_gacha_pulls_hand_id_hands"),
            ondelete="CASCADE",
        ),
        _user_fk("gacha_pulls"),
        _banner_fk("gacha_pulls"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gacha_pulls")),
        schema="casino",
    )
    op.create_index(
        "ix_gacha_pulls_user", "gacha_pulls", ["user_id", "pulled_at", "id"], schema="casino"
    )
    op.create_index(
        "ix_gacha_pulls_user_banner",
        "gacha_pulls",
        ["user_id", "banner_id", "pulled_at", "id"],
        schema="casino",
    )
    _seed_standard_banner(banners, tables)


def _seed_standard_banner(banners: sa.Table, tables: sa.Table) -> None:
    """The standard banner (coins, always open) and its rate table v1 over the starter
    collectibles (migration 0020), in force from now on."""
    now = op.get_bind().execute(sa.text("SELECT now()")).scalar_one()
    op.bulk_insert(
        banners,
        [
            {"banner_id": "standard", "name": "Standard Banner",
             "description": "Every starter collectible, always open.", "currency": "coins",
             "cost_single": 100, "cost_ten": 900, "hard_pity": 90, "starts_at": now,
             "ends_at": None, "created_at": now},
        ],
    )  # fmt: skip
    rows = op.get_bind().execute(
        sa.text(
            "SELECT tier, item_id FROM casino.items WHERE kind = 'collectible' AND tier IS NOT NULL"
            " ORDER BY tier, item_id"
        )
    )
    pools: dict[str, list[str]] = {tier: [] for tier in STANDARD_WEIGHTS}
    for tier, item_id in rows:
        pools[tier].append(item_id)
    op.bulk_insert(
        tables,
        [
            {"banner_id": "standard", "version": 1, "effective_from": now, "published_at": now,
             "weights": STANDARD_WEIGHTS, "pools": pools},
        ],
    )  # fmt: skip


def downgrade() -> None:
    for table in ("gacha_pulls", "gacha_pity", "gacha_rate_tables", "gacha_banners"):
        op.drop_table(table, schema="casino")
    op.drop_table("slot_streaks", schema="casino")
    op.drop_table("seed_pairs", schema="casino")
