"""VIP tables: the tiers (reference data: thresholds and benefits), each member's standing
(period, grace) and the history of tier moves. The tier itself is `casino.users.vip_tier`."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.models import SCHEMA, TZ
from ensemble.kernel.db import Base, UuidPk, utcnow

USERS = f"{SCHEMA}.users.account_id"


class VipTier(Base):
    """A tier: what reaches it over the rolling period and what it gives. Tier 0 is every
    member's until they reach another; thresholds grow with the tier."""

    __tablename__ = "vip_tiers"
    __table_args__ = (
        CheckConstraint("tier >= 0", name="tier_not_negative"),
        CheckConstraint(
            "min_gem_spend >= 0 AND min_active_days >= 0", name="thresholds_not_negative"
        ),
        CheckConstraint(
            "shop_discount_percent BETWEEN 0 AND 90", name="shop_discount_percent_in_range"
        ),
        CheckConstraint("daily_bonus_coins >= 0", name="daily_bonus_coins_not_negative"),
        {"schema": SCHEMA},
    )

    tier: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(32))
    min_gem_spend: Mapped[int] = mapped_column(BigInteger)
    min_active_days: Mapped[int] = mapped_column(Integer)
    shop_discount_percent: Mapped[int] = mapped_column(SmallInteger)
    """Off shop prices, up to each product's own `vip_discount_percent` ceiling."""
    daily_bonus_coins: Mapped[int] = mapped_column(Integer)
    """Added to the daily login reward."""


class VipStanding(Base):
    """A member's VIP period: when it ends (a downgrade is decided only then), whether the
    member is in its grace period, and the last day (UTC) an action of theirs was reviewed."""

    __tablename__ = "vip_standings"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    period_ends_at: Mapped[datetime] = mapped_column(TZ, index=True)
    in_grace: Mapped[bool] = mapped_column(default=False)
    last_active_day: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class VipChange(Base):
    """One move of a member's tier (upgrade, grace, downgrade) and the measures behind it."""

    __tablename__ = "vip_history"
    __table_args__ = (
        Index("ix_vip_history_user", "user_id", "at", "id"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    from_tier: Mapped[int] = mapped_column(SmallInteger)
    to_tier: Mapped[int] = mapped_column(SmallInteger)
    move: Mapped[str] = mapped_column(String(16))
    gem_spend: Mapped[int] = mapped_column(BigInteger)
    active_days: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
