"""The shop's tables, in the `casino` schema: products (reference data a migration seeds and
admins edit), promo codes and their redemptions, purchases, what each member bought of a
limited product, and members' debts (only ever from a refund)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.models import SCHEMA, TZ, enum_type
from ensemble.apps.casino.shop.domain import (
    Contents,
    PriceRule,
    ProductKind,
    PromoKind,
    PurchaseStatus,
)
from ensemble.kernel.db import Base, UuidPk, utcnow

USERS = f"{SCHEMA}.users.account_id"
PRODUCTS = f"{SCHEMA}.products.product_id"


class Product(Base):
    """Something the shop sells: its kind, price rules, contents (per unit) and, for a
    limited package, its window, stock and per-member limit. `is_enabled` is the emergency
    switch: off, nobody sees or buys it."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("base_price > 0", name="base_price_positive"),
        CheckConstraint("sale_price IS NULL OR sale_price > 0", name="sale_price_positive"),
        CheckConstraint(
            "vip_discount_percent BETWEEN 0 AND 90", name="vip_discount_percent_in_range"
        ),
        CheckConstraint(
            "stock_sold >= 0 AND (stock_total IS NULL OR stock_sold <= stock_total)",
            name="stock_not_oversold",
        ),
        CheckConstraint(
            "per_member_limit IS NULL OR per_member_limit > 0", name="per_member_limit_positive"
        ),
        {"schema": SCHEMA},
    )

    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[ProductKind] = mapped_column(enum_type(ProductKind, "product_kind"))
    price_currency: Mapped[str] = mapped_column(String(16))
    """`coins`, `gems` or the money currency (`USD`, in cents)."""
    base_price: Mapped[int] = mapped_column(BigInteger)
    sale_price: Mapped[int | None] = mapped_column(BigInteger)
    sale_starts_at: Mapped[datetime | None] = mapped_column(TZ)
    sale_ends_at: Mapped[datetime | None] = mapped_column(TZ)
    vip_discount_percent: Mapped[int] = mapped_column(SmallInteger, default=0)
    contents: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """What one unit grants: `{"coins": n, "gems": n, "items": {item_id: n}}`."""
    available_from: Mapped[datetime | None] = mapped_column(TZ)
    available_until: Mapped[datetime | None] = mapped_column(TZ)
    stock_total: Mapped[int | None] = mapped_column(Integer)
    stock_sold: Mapped[int] = mapped_column(Integer, default=0)
    per_member_limit: Mapped[int | None] = mapped_column(Integer)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow, onupdate=utcnow)

    @property
    def price_rule(self) -> PriceRule:
        return PriceRule(
            self.base_price,
            self.sale_price,
            self.sale_starts_at,
            self.sale_ends_at,
            self.vip_discount_percent,
        )

    @property
    def unit_contents(self) -> Contents:
        return Contents.of(self.contents)

    @property
    def stock_left(self) -> int | None:
        return None if self.stock_total is None else self.stock_total - self.stock_sold


class PromoCode(Base):
    """A promo code: a percentage off, or a bonus granted with the purchase; spent once per
    member, at most `max_uses` times in all, until it expires."""

    __tablename__ = "promo_codes"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'percent' AND percent_off BETWEEN 1 AND 90 AND bonus IS NULL)"
            " OR (kind = 'bonus' AND percent_off IS NULL AND bonus IS NOT NULL)",
            name="percent_or_bonus",
        ),
        CheckConstraint(
            "uses >= 0 AND (max_uses IS NULL OR (max_uses >= 1 AND uses <= max_uses))",
            name="uses_within_max",
        ),
        {"schema": SCHEMA},
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[PromoKind] = mapped_column(enum_type(PromoKind, "promo_kind"))
    percent_off: Mapped[int | None] = mapped_column(SmallInteger)
    bonus: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    product_id: Mapped[str | None] = mapped_column(ForeignKey(PRODUCTS))
    """The one product it applies to (None: any)."""
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(TZ)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class PromoRedemption(Base):
    """A member's one use of a promo code (the primary key keeps it to one)."""

    __tablename__ = "promo_redemptions"
    __table_args__ = {"schema": SCHEMA}

    code: Mapped[str] = mapped_column(
        ForeignKey(f"{SCHEMA}.promo_codes.code", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    purchase_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.purchases.id", ondelete="CASCADE")
    )
    redeemed_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class Purchase(Base):
    """One purchase, in any currency: the receipt. Coin- and gem-priced ones are settled and
    `fulfilled` in the transaction that makes them; money-priced ones wait in `pending` for
    the payment provider (webhook or sweep)."""

    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_purchases_user_idempotency_key"),
        UniqueConstraint("provider", "provider_txn_id", name="uq_purchases_provider_txn"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_purchases_user_created", "user_id", "created_at"),
        Index(
            "ix_purchases_pending",
            "created_at",
            postgresql_where=text("status = 'pending'"),
        ),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(ForeignKey(PRODUCTS))
    quantity: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[PurchaseStatus] = mapped_column(enum_type(PurchaseStatus, "purchase_status"))
    price_currency: Mapped[str] = mapped_column(String(16))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    """What the member pays in all (after the VIP discount and a promo code)."""
    promo_code: Mapped[str | None] = mapped_column(String(32))
    contents: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """What the purchase grants in all (the units' contents and a promo bonus)."""
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_txn_id: Mapped[str | None] = mapped_column(String(128))
    checkout_url: Mapped[str | None] = mapped_column(String(500))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    refund_reason: Mapped[str | None] = mapped_column(String(500))
    refund_debt: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    """What a refund could not take back (the member had spent it): `{currency: amount}`."""
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow, onupdate=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(TZ)
    fulfilled_at: Mapped[datetime | None] = mapped_column(TZ)
    refunded_at: Mapped[datetime | None] = mapped_column(TZ)

    @property
    def granted(self) -> Contents:
        return Contents.of(self.contents)


class MemberPurchases(Base):
    """How many units of a limited product a member holds reservations or purchases of:
    raised by one conditional upsert, so concurrent buys cannot pass the limit."""

    __tablename__ = "member_purchases"
    __table_args__ = (
        CheckConstraint("bought >= 0", name="bought_not_negative"),
        {"schema": SCHEMA},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[str] = mapped_column(
        ForeignKey(PRODUCTS, ondelete="CASCADE"), primary_key=True
    )
    bought: Mapped[int] = mapped_column(Integer)


class Debt(Base):
    """What a member owes in a currency: only a refund of something already spent makes
    one (play never does)."""

    __tablename__ = "debts"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        {"schema": SCHEMA},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(16), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow, onupdate=utcnow)
