"""casino shop: products (with a small starter catalogue), promo codes and redemptions,
purchases, members' counts of limited products, debts

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRODUCT_KIND = sa.Enum(
    "gem_pack", "coin_bundle", "item_package", name="product_kind", schema="casino"
)
PROMO_KIND = sa.Enum("percent", "bonus", name="promo_kind", schema="casino")
PURCHASE_STATUS = sa.Enum(
    "pending", "paid", "fulfilled", "failed", "cancelled", "refunded",
    name="purchase_status", schema="casino",
)  # fmt: skip
TZ = sa.DateTime(timezone=True)
SEEDED_AT = datetime(2026, 12, 7, tzinfo=UTC)
USERS = "casino.users.account_id"
PRODUCTS = "casino.products.product_id"


def _contents(coins: int = 0, gems: int = 0, **items: int) -> dict[str, object]:
    return {
        "coins": coins,
        "gems": gems,
        "items": {k.replace("_", "-"): v for k, v in items.items()},
    }


CATALOGUE = [
    ("gems-100", "100 Gems", "gem_pack", "USD", 99, _contents(gems=100), None, None, 10),
    ("gems-550", "550 Gems", "gem_pack", "USD", 499, _contents(gems=550), None, None, 11),
    ("gems-1200", "1,200 Gems", "gem_pack", "USD", 999, _contents(gems=1200), None, None, 12),
    ("coins-1000", "1,000 Coins", "coin_bundle", "gems", 10, _contents(coins=1000), None, None, 20),
    ("coins-5500", "5,500 Coins", "coin_bundle", "gems", 50, _contents(coins=5500), None, None, 21),
    ("shield-pack", "Streak Shields ×2", "item_package", "coins", 800,
     _contents(streak_shield=2), None, None, 30),
    ("founders-pack", "Founder's Pack", "item_package", "gems", 100,
     _contents(coins=5000, golden_dragon=1), 1000, 1, 31),
]  # fmt: skip
"""(id, name, kind, currency, base price, contents of a unit, stock, per-member limit, order)."""


def upgrade() -> None:
    products = op.create_table(
        "products",
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("kind", PRODUCT_KIND, nullable=False),
        sa.Column("price_currency", sa.String(length=16), nullable=False),
        sa.Column("base_price", sa.BigInteger(), nullable=False),
        sa.Column("sale_price", sa.BigInteger(), nullable=True),
        sa.Column("sale_starts_at", TZ, nullable=True),
        sa.Column("sale_ends_at", TZ, nullable=True),
        sa.Column("vip_discount_percent", sa.SmallInteger(), nullable=False),
        sa.Column("contents", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("available_from", TZ, nullable=True),
        sa.Column("available_until", TZ, nullable=True),
        sa.Column("stock_total", sa.Integer(), nullable=True),
        sa.Column("stock_sold", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint("base_price > 0", name=op.f("ck_products_base_price_positive")),
        sa.CheckConstraint(
            "sale_price IS NULL OR sale_price > 0", name=op.f("ck_products_sale_price_positive")
        ),
        sa.CheckConstraint(
            "vip_discount_percent BETWEEN 0 AND 90",
            name=op.f("ck_products_vip_discount_percent_in_range"),
        ),
        sa.CheckConstraint(
            "stock_sold >= 0 AND (stock_total IS NULL OR stock_sold <= stock_total)",
            name=op.f("ck_products_stock_not_oversold"),
        ),
        sa.CheckConstraint(
            "per_member_limit IS NULL OR per_member_limit > 0",
            name=op.f("ck_products_per_member_limit_positive"),
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_products")),
        schema="casino",
    )
    op.create_table(
        "promo_codes",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", PROMO_KIND, nullable=False),
        sa.Column("percent_off", sa.SmallInteger(), nullable=True),
        sa.Column("bonus", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("product_id", sa.String(length=64), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", TZ, nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.CheckConstraint(
            "(kind = 'percent' AND percent_off BETWEEN 1 AND 90 AND bonus IS NULL)"
            " OR (kind = 'bonus' AND percent_off IS NULL AND bonus IS NOT NULL)",
            name=op.f("ck_promo_codes_percent_or_bonus"),
        ),
        sa.CheckConstraint(
            "uses >= 0 AND (max_uses IS NULL OR (max_uses >= 1 AND uses <= max_uses))",
            name=op.f("ck_promo_codes_uses_within_max"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], [PRODUCTS], name=op.f("fk_promo_codes_product_id_products")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_promo_codes")),
        schema="casino",
    )
    op.create_table(
        "purchases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("status", PURCHASE_STATUS, nullable=False),
        sa.Column("price_currency", sa.String(length=16), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("promo_code", sa.String(length=32), nullable=True),
        sa.Column("contents", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("provider_txn_id", sa.String(length=128), nullable=True),
        sa.Column("checkout_url", sa.String(length=500), nullable=True),
        sa.Column("failure_reason", sa.String(length=200), nullable=True),
        sa.Column("refund_reason", sa.String(length=500), nullable=True),
        sa.Column("refund_debt", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("paid_at", TZ, nullable=True),
        sa.Column("fulfilled_at", TZ, nullable=True),
        sa.Column("refunded_at", TZ, nullable=True),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_purchases_quantity_positive")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_purchases_amount_positive")),
        sa.ForeignKeyConstraint(
            ["user_id"], [USERS], name=op.f("fk_purchases_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], [PRODUCTS], name=op.f("fk_purchases_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_purchases_user_idempotency_key"),
        sa.UniqueConstraint("provider", "provider_txn_id", name="uq_purchases_provider_txn"),
        schema="casino",
    )
    op.create_index(
        "ix_purchases_user_created", "purchases", ["user_id", "created_at"], schema="casino"
    )
    op.create_index(
        "ix_purchases_pending",
        "purchases",
        ["created_at"],
        schema="casino",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "promo_redemptions",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purchase_id", sa.Uuid(), nullable=False),
        sa.Column("redeemed_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["code"],
            ["casino.promo_codes.code"],
            name=op.f("fk_promo_redemptions_code_promo_codes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], [USERS], name=op.f("fk_promo_redemptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["casino.purchases.id"],
            name=op.f("fk_promo_redemptions_purchase_id_purchases"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", "user_id", name=op.f("pk_promo_redemptions")),
        schema="casino",
    )  # fmt: skip
    op.create_table(
        "member_purchases",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("bought", sa.Integer(), nullable=False),
        sa.CheckConstraint("bought >= 0", name=op.f("ck_member_purchases_bought_not_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], [USERS], name=op.f("fk_member_purchases_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], [PRODUCTS], name=op.f("fk_member_purchases_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "product_id", name=op.f("pk_member_purchases")),
        schema="casino",
    )  # fmt: skip
    op.create_table(
        "debts",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_debts_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], [USERS], name=op.f("fk_debts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "currency", name=op.f("pk_debts")),
        schema="casino",
    )
    now = SEEDED_AT
    op.bulk_insert(
        products,
        [
            {"product_id": pid, "name": name, "description": "", "kind": kind,
             "price_currency": currency, "base_price": price, "sale_price": None,
             "sale_starts_at": None, "sale_ends_at": None, "vip_discount_percent": 10,
             "contents": contents, "available_from": None, "available_until": None,
             "stock_total": stock, "stock_sold": 0, "per_member_limit": limit,
             "is_enabled": True, "sort_order": order, "created_at": now, "updated_at": now}
            for pid, name, kind, currency, price, contents, stock, limit, order in CATALOGUE
        ],
    )  # fmt: skip


def downgrade() -> None:
    for table in ("debts", "member_purchases", "promo_redemptions", "purchases", "promo_codes",
                  "products"):  # fmt: skip
        op.drop_table(table, schema="casino")
    for kind in (PURCHASE_STATUS, PROMO_KIND, PRODUCT_KIND):
        kind.drop(op.get_bind(), checkfirst=False)
