"""Responsible play's tables (B2): limits, each member's guard (cool-off, self-exclusion,
reality-check interval: the row every bet, pull and purchase locks), daily tallies and the
reality checks sent per game session."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.limits.domain import DEFAULT_REALITY_CHECK_MINUTES
from ensemble.apps.casino.models import SCHEMA, TZ
from ensemble.kernel.db import Base, utcnow

USERS = f"{SCHEMA}.users.account_id"


class PlayLimit(Base):
    """One of a member's limits: the amount in force and a looser change waiting (see
    `domain.LimitState`). A row with neither is deleted."""

    __tablename__ = "play_limits"
    __table_args__ = (
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_not_negative"),
        CheckConstraint(
            "pending_amount IS NULL OR pending_amount >= 0", name="pending_not_negative"
        ),
        {"schema": SCHEMA},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    currency: Mapped[str] = mapped_column(String(16), primary_key=True)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    pending_amount: Mapped[int | None] = mapped_column(BigInteger)
    pending_at: Mapped[datetime | None] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class PlayGuard(Base):
    """A member's responsible-play state; every bet, pull and purchase locks this row, so a
    member's charges queue and limits hold under concurrency."""

    __tablename__ = "play_guards"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    cool_off_until: Mapped[datetime | None] = mapped_column(TZ)
    excluded_until: Mapped[datetime | None] = mapped_column(TZ)
    excluded_permanently: Mapped[bool] = mapped_column(default=False)
    reality_check_minutes: Mapped[int | None] = mapped_column(
        Integer, default=DEFAULT_REALITY_CHECK_MINUTES
    )
    """Null: reality checks are off."""


class PlayDay(Base):
    """What a member spent, staked and won in one currency on one local day."""

    __tablename__ = "play_days"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(16), primary_key=True)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    staked: Mapped[int] = mapped_column(BigInteger, default=0)
    won: Mapped[int] = mapped_column(BigInteger, default=0)


class RealityCheck(Base):
    """How many reality checks a game session has had: raised by a conditional upsert, so
    each interval notifies once."""

    __tablename__ = "reality_checks"
    __table_args__ = {"schema": SCHEMA}

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.game_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    checks: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = mapped_column(TZ)
