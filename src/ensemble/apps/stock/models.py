"""Stock tables, in the `stock` schema.

Rows that clients pull through `/sync/changes` carry a change position `(change_xid,
change_seq)`: the id of the writing transaction and a global sequence, both set by the
database on insert and on every update (trigger in the migration). See `domain.ChangePosition`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.kernel.db import CURRENT_XID, Base, UuidPk, utcnow

SCHEMA = "stock"
CHANGE_SEQ = Sequence("change_seq", schema=SCHEMA)


class Role(StrEnum):
    ADMIN = "ADMIN"
    WORKER = "WORKER"


class TransactionType(StrEnum):
    IN = "IN"
    OUT = "OUT"
    ADJUST = "ADJUST"


class ChangeTracked:
    """Columns giving a row its position in the `/sync/changes` feed."""

    change_xid: Mapped[int] = mapped_column(BigInteger, server_default=CURRENT_XID)
    change_seq: Mapped[int] = mapped_column(BigInteger, server_default=CHANGE_SEQ.next_value())

    @staticmethod
    def feed_index(name: str) -> Index:
        """The index the feed reads a store's changes of the table through."""
        return Index(name, "store_id", "change_xid", "change_seq")


def _timestamp(**kwargs: object) -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), **kwargs)  # type: ignore[arg-type]


class Store(Base):
    __tablename__ = "stores"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    allow_negative_stock: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _timestamp(default=utcnow)
    updated_at: Mapped[datetime] = _timestamp(default=utcnow, onupdate=utcnow)


class User(Base):
    """The Stock profile of an identity account: name, role and whether it may sign in."""

    __tablename__ = "users"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("identity.accounts.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", schema=SCHEMA))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _timestamp(default=utcnow)
    updated_at: Mapped[datetime] = _timestamp(default=utcnow, onupdate=utcnow)


class UserStore(Base):
    __tablename__ = "user_stores"
    __table_args__ = (Index(None, "store_id"), {"schema": SCHEMA})

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"), primary_key=True
    )
    store_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.stores.id", ondelete="CASCADE"), primary_key=True
    )


class Category(ChangeTracked, Base):
    __tablename__ = "categories"
    __table_args__ = (
        Index(
            "uq_categories_store_name",
            "store_id",
            "name",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        ChangeTracked.feed_index("ix_categories_changes"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.stores.id"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = _timestamp(default=utcnow)
    updated_at: Mapped[datetime] = _timestamp(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = _timestamp()


class Product(ChangeTracked, Base):
    """A product of one store. `updated_at`/`updated_by`/`version_digest` order its versions
    for last-write-wins (see `domain.ProductVersion`)."""

    __tablename__ = "products"
    __table_args__ = (
        Index(
            "uq_products_store_barcode",
            "store_id",
            text("barcode text_pattern_ops"),
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_products_store_name", "store_id", text("lower(name) text_pattern_ops")),
        Index("ix_products_store_id", "store_id", "id"),
        ChangeTracked.feed_index("ix_products_changes"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.stores.id"))
    barcode: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(f"{SCHEMA}.categories.id"))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _timestamp(default=utcnow)
    updated_at: Mapped[datetime] = _timestamp()
    updated_by: Mapped[str] = mapped_column(String(128, collation="C"), default="")
    version_digest: Mapped[str] = mapped_column(String(64, collation="C"), default="")
    deleted_at: Mapped[datetime | None] = _timestamp()
    synced_at: Mapped[datetime] = _timestamp(default=utcnow)


class InventoryTransaction(ChangeTracked, Base):
    """One stock movement. Append-only: a trigger refuses UPDATE and DELETE."""

    __tablename__ = "inventory_transactions"
    __table_args__ = (
        Index("ix_transactions_store_time", "store_id", "occurred_at", "id"),
        Index("ix_transactions_product_time", "product_id", "occurred_at", "id"),
        ChangeTracked.feed_index("ix_transactions_changes"),
        CheckConstraint("quantity <> 0", name="quantity_not_zero"),
        CheckConstraint("(type = 'ADJUST') OR quantity > 0", name="in_out_quantity_positive"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.stores.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.products.id"))
    type: Mapped[TransactionType] = mapped_column(
        Enum(TransactionType, name="transaction_type", schema=SCHEMA)
    )
    quantity: Mapped[int] = mapped_column(BigInteger)
    delta: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime] = _timestamp()
    created_at: Mapped[datetime] = _timestamp()
    synced_at: Mapped[datetime] = _timestamp(default=utcnow)
    device_id: Mapped[str | None] = mapped_column(String(128))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(f"{SCHEMA}.users.id"))


class CurrentStock(ChangeTracked, Base):
    """The sum of a product's transactions, kept in the same database transaction as each
    append; `ensemble stock check-stock` proves it never drifts from the log."""

    __tablename__ = "current_stock"
    __table_args__ = (
        Index("ix_current_stock_store", "store_id", "product_id"),
        ChangeTracked.feed_index("ix_current_stock_changes"),
        {"schema": SCHEMA},
    )

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.products.id"), primary_key=True
    )
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.stores.id"))
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = _timestamp(default=utcnow, onupdate=utcnow)
