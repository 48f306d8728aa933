"""Gacha banners, their versioned rate tables, pity counters and pulls."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.models import SCHEMA, TZ
from ensemble.kernel.db import Base, UuidPk, utcnow

BANNER = f"{SCHEMA}.gacha_banners.banner_id"


class Banner(Base):
    """A banner: what a pull and a 10-pull cost, its hard pity and when it is open."""

    __tablename__ = "gacha_banners"
    __table_args__ = (
        CheckConstraint("cost_single > 0 AND cost_ten > 0", name="costs_positive"),
        CheckConstraint("hard_pity >= 1", name="hard_pity_positive"),
        {"schema": SCHEMA},
    )

    banner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    currency: Mapped[str] = mapped_column(String(16))
    cost_single: Mapped[int] = mapped_column(BigInteger)
    cost_ten: Mapped[int] = mapped_column(BigInteger)
    hard_pity: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(TZ)
    ends_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    min_vip_tier: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    """The VIP tier a member needs to see and pull it (0: everyone; B3)."""


class RateTableVersion(Base):
    """One version of a banner's rates: tier weights and pools of item ids. Immutable once
    published; it applies from `effective_from`, which is after its `published_at`."""

    __tablename__ = "gacha_rate_tables"
    __table_args__ = (
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("effective_from >= published_at", name="published_before_effective"),
        {"schema": SCHEMA},
    )

    banner_id: Mapped[str] = mapped_column(ForeignKey(BANNER, ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_from: Mapped[datetime] = mapped_column(TZ)
    published_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    weights: Mapped[dict[str, int]] = mapped_column(JSONB)
    """Tier → integer weight (SSR, SR, R, N)."""
    pools: Mapped[dict[str, list[str]]] = mapped_column(JSONB)
    """Tier → item ids of `casino.items`, in the published (pick) order."""


class Pity(Base):
    """Pulls since the member's last SSR on a banner (locked by each pull's transaction)."""

    __tablename__ = "gacha_pity"
    __table_args__ = (
        CheckConstraint("counter >= 0", name="counter_not_negative"),
        {"schema": SCHEMA},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE"), primary_key=True
    )
    banner_id: Mapped[str] = mapped_column(ForeignKey(BANNER, ondelete="CASCADE"), primary_key=True)
    counter: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class PullRecord(Base):
    """One pull of a play (a 10-pull is one hand, ten rows): everything to recompute it."""

    __tablename__ = "gacha_pulls"
    __table_args__ = (
        Index("ix_gacha_pulls_user", "user_id", "pulled_at", "id"),
        Index("ix_gacha_pulls_user_banner", "user_id", "banner_id", "pulled_at", "id"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    hand_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.hands.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    """0 to 9: the pull's rank in its play (floats `2i`, `2i + 1`)."""
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE")
    )
    banner_id: Mapped[str] = mapped_column(ForeignKey(BANNER, ondelete="CASCADE"))
    table_version: Mapped[int] = mapped_column(Integer)
    nonce: Mapped[int] = mapped_column(BigInteger)
    pity_before: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(8))
    item_id: Mapped[str] = mapped_column(String(64))
    shards: Mapped[int] = mapped_column(Integer)
    """Shards it turned into (a duplicate), or 0 (the item was granted)."""
    pulled_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
