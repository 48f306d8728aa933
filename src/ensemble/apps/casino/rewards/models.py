"""The rewards' tables: every grant, each member's login streak and the days it claimed."""

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
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.domain import RewardKind
from ensemble.apps.casino.models import SCHEMA, TZ, enum_type
from ensemble.kernel.db import Base, UuidPk, utcnow

USERS = f"{SCHEMA}.users.account_id"


class Reward(Base):
    """One grant to a member (coins, gems or an item), recorded once per `(user_id,
    idempotency_key)`: the row is the grant's lock, so a re-sent key finds it."""

    __tablename__ = "rewards"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        CheckConstraint(
            "(kind = 'item' AND amount IS NULL AND item_id IS NOT NULL AND quantity > 0)"
            " OR (kind <> 'item' AND amount > 0 AND item_id IS NULL AND quantity IS NULL)",
            name="content_fits_kind",
        ),
        Index("ix_rewards_user_created", "user_id", "created_at", "id"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    kind: Mapped[RewardKind] = mapped_column(enum_type(RewardKind, "reward_kind"))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    item_id: Mapped[str | None] = mapped_column(ForeignKey(f"{SCHEMA}.items.item_id"))
    quantity: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    granted_by: Mapped[uuid.UUID | None]
    """The admin who granted it; None for the system (daily login, achievements, …)."""
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    reversed_at: Mapped[datetime | None] = mapped_column(TZ)
    reversed_by: Mapped[uuid.UUID | None]
    reverse_reason: Mapped[str | None] = mapped_column(String(200))


class Streak(Base):
    """A member's login streak: consecutive local days claimed, ending on `last_day`."""

    __tablename__ = "streaks"
    __table_args__ = (
        CheckConstraint("current >= 0 AND longest >= current", name="counts_consistent"),
        {"schema": SCHEMA},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    current: Mapped[int] = mapped_column(Integer, default=0)
    longest: Mapped[int] = mapped_column(Integer, default=0)
    last_day: Mapped[date | None] = mapped_column(Date)
    """The member's local day last claimed (None before any)."""
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class StreakDay(Base):
    """A local day a member claimed (the calendar): its place in the streak, its reward
    (None for the sign-up day, whose reward is the sign-up grant) and whether a shield
    covered the day missed before it."""

    __tablename__ = "streak_days"
    __table_args__ = (
        CheckConstraint("streak_day >= 1", name="streak_day_positive"),
        {"schema": SCHEMA},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    streak_day: Mapped[int] = mapped_column(Integer)
    reward_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(f"{SCHEMA}.rewards.id", ondelete="SET NULL")
    )
    shield_used: Mapped[bool] = mapped_column(default=False)
    claimed_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
