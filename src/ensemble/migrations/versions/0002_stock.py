"""stock: stores, users, categories, products, append-only transactions, current stock

Rows pulled through `/sync/changes` get their feed position `(change_xid, change_seq)` from
column defaults on insert and from the `touch_change` trigger on every update. Inventory
transactions refuse UPDATE and DELETE at the database level.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOUCH_CHANGE = """
CREATE FUNCTION stock.touch_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := (pg_current_xact_id()::text)::bigint;
    NEW.change_seq := nextval('stock.change_seq');
    RETURN NEW;
END $$
"""

REFUSE_CHANGE = """
CREATE FUNCTION stock.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'inventory transactions are append-only: record an ADJUST instead'
        USING ERRCODE = 'restrict_violation';
END $$
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS stock")
    op.execute("CREATE SEQUENCE stock.change_seq")
    op.create_table(
        "stores",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("allow_negative_stock", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stores")),
        schema="stock",
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "change_xid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.Column(
            "change_seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('stock.change_seq')"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stock.stores.id"], name=op.f("fk_categories_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        schema="stock",
    )
    op.create_index(
        "ix_categories_changes",
        "categories",
        ["store_id", "change_xid", "change_seq"],
        unique=False,
        schema="stock",
    )
    op.create_index(
        "uq_categories_store_name",
        "categories",
        ["store_id", "name"],
        unique=True,
        schema="stock",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.Enum("ADMIN", "WORKER", name="role", schema="stock"), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["id"], ["identity.accounts.id"], name=op.f("fk_users_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        schema="stock",
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("barcode", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("safety_stock", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128, collation="C"), nullable=False),
        sa.Column("version_digest", sa.String(length=64, collation="C"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "change_xid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.Column(
            "change_seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('stock.change_seq')"),
            nullable=False,
        ),
        sa.CheckConstraint("safety_stock >= 0", name=op.f("ck_products_safety_stock_not_negative")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_products_unit_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["stock.categories.id"],
            name=op.f("fk_products_category_id_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stock.stores.id"], name=op.f("fk_products_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        schema="stock",
    )
    op.create_index(
        "ix_products_changes",
        "products",
        ["store_id", "change_xid", "change_seq"],
        unique=False,
        schema="stock",
    )
    op.create_index(
        "ix_products_store_id", "products", ["store_id", "id"], unique=False, schema="stock"
    )
    op.create_index(
        "ix_products_store_name",
        "products",
        ["store_id", sa.literal_column("lower(name) text_pattern_ops")],
        unique=False,
        schema="stock",
    )
    op.create_index(
        "uq_products_store_barcode",
        "products",
        ["store_id", sa.literal_column("barcode text_pattern_ops")],
        unique=True,
        schema="stock",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "user_stores",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stock.stores.id"],
            name=op.f("fk_user_stores_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["stock.users.id"],
            name=op.f("fk_user_stores_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "store_id", name=op.f("pk_user_stores")),
        schema="stock",
    )
    op.create_index(
        op.f("ix_stock_user_stores_store_id"),
        "user_stores",
        ["store_id"],
        unique=False,
        schema="stock",
    )
    op.create_table(
        "current_stock",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "change_xid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.Column(
            "change_seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('stock.change_seq')"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["stock.products.id"], name=op.f("fk_current_stock_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stock.stores.id"], name=op.f("fk_current_stock_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_current_stock")),
        schema="stock",
    )
    op.create_index(
        "ix_current_stock_changes",
        "current_stock",
        ["store_id", "change_xid", "change_seq"],
        unique=False,
        schema="stock",
    )
    op.create_index(
        "ix_current_stock_store",
        "current_stock",
        ["store_id", "product_id"],
        unique=False,
        schema="stock",
    )
    op.create_table(
        "inventory_transactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column(
            "type",
            sa.Enum("IN", "OUT", "ADJUST", name="transaction_type", schema="stock"),
            nullable=False,
        ),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column(
            "change_xid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.Column(
            "change_seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('stock.change_seq')"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(type = 'ADJUST') OR quantity > 0",
            name=op.f("ck_inventory_transactions_in_out_quantity_positive"),
        ),
        sa.CheckConstraint(
            "quantity <> 0", name=op.f("ck_inventory_transactions_quantity_not_zero")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["stock.products.id"],
            name=op.f("fk_inventory_transactions_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stock.stores.id"],
            name=op.f("fk_inventory_transactions_store_id_stores"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["stock.users.id"], name=op.f("fk_inventory_transactions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_transactions")),
        schema="stock",
    )
    op.create_index(
        "ix_transactions_changes",
        "inventory_transactions",
        ["store_id", "change_xid", "change_seq"],
        unique=False,
        schema="stock",
    )
    op.create_index(
        "ix_transactions_product_time",
        "inventory_transactions",
        ["product_id", "occurred_at", "id"],
        unique=False,
        schema="stock",
    )
    op.create_index(
        "ix_transactions_store_time",
        "inventory_transactions",
        ["store_id", "occurred_at", "id"],
        unique=False,
        schema="stock",
    )

    op.execute(TOUCH_CHANGE)
    op.execute(REFUSE_CHANGE)
    for table in ("categories", "products", "current_stock"):
        op.execute(
            f"CREATE TRIGGER touch_change BEFORE UPDATE ON stock.{table} "
            "FOR EACH ROW EXECUTE FUNCTION stock.touch_change()"
        )
    op.execute(
        "CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON stock.inventory_transactions "
        "FOR EACH ROW EXECUTE FUNCTION stock.refuse_change()"
    )


def downgrade() -> None:
    op.execute("DROP SCHEMA stock CASCADE")
