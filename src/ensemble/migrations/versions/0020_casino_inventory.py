"""casino inventory: the item catalogue (with a starter set: the standard banner's
collectibles, shards, the streak shield) and members' inventory

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ITEM_KIND = sa.Enum("collectible", "consumable", "material", name="item_kind", schema="casino")

STARTER_SET = {
    "SSR": ("Golden Dragon", "Phoenix Crown", "Starlight Ace"),
    "SR": ("Silver Fox", "Lucky Cat", "Moon Dice", "Neon Tiger", "Crystal Chip"),
    "R": ("Red Seven", "Blue Cherry", "Green Bell", "Purple Bar", "Orange Clover", "Jade Coin"),
    "N": ("Plain Chip", "Wooden Die", "Paper Card", "Tin Token", "Glass Bead", "Clay Horse",
          "Copper Coin", "Felt Square"),
}  # fmt: skip


def slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def upgrade() -> None:
    items = op.create_table(
        "items",
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", ITEM_KIND, nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_items")),
        schema="casino",
    )
    op.create_table(
        "inventory",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_inventory_quantity_not_negative")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["casino.items.item_id"], name=op.f("fk_inventory_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["casino.users.account_id"],
            name=op.f("fk_inventory_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "item_id", name=op.f("pk_inventory")),
        schema="casino",
    )
    collectibles = [
        {"item_id": slug(name), "name": name, "kind": "collectible", "tier": tier,
         "description": f"A {tier} collectible of the standard banner."}
        for tier, names in STARTER_SET.items()
        for name in names
    ]  # fmt: skip
    others = [
        {"item_id": "shard", "name": "Shard", "kind": "material", "tier": None,
         "description": "What a duplicate gacha pull turns into."},
        {"item_id": "streak-shield", "name": "Streak Shield", "kind": "consumable", "tier": None,
         "description": "Covers one missed day of your login streak, used up automatically."},
    ]  # fmt: skip
    op.bulk_insert(items, collectibles + others)


def downgrade() -> None:
    op.drop_table("inventory", schema="casino")
    op.drop_table("items", schema="casino")
    ITEM_KIND.drop(op.get_bind(), checkfirst=False)
