"""The age-gated unlock's tables (B5): staged contents (reference data), members' age
verifications, and the unlock log (append-only: a trigger refuses UPDATE and DELETE, so it
is also the audit trail of every unlock)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.domain import Rank
from ensemble.apps.casino.models import SCHEMA, TZ, enum_type
from ensemble.kernel.db import Base, utcnow


class UnlockContent(Base):
    """A piece of staged content: its title is public, its stages' bodies are not."""

    __tablename__ = "unlock_contents"
    __table_args__ = {"schema": SCHEMA}

    content_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))


class UnlockStage(Base):
    """One stage of a content: its price in coins, who may unlock it, and its body (shown
    only to members who unlocked it)."""

    __tablename__ = "unlock_stages"
    __table_args__ = (
        CheckConstraint("price_coins >= 0", name="price_not_negative"),
        CheckConstraint("stage IN ('teaser', 'partial', 'full')", name="known_stage"),
        {"schema": SCHEMA},
    )

    content_id: Mapped[str] = mapped_column(
        ForeignKey(f"{SCHEMA}.unlock_contents.content_id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str] = mapped_column(String(8), primary_key=True)
    price_coins: Mapped[int] = mapped_column(Integer)
    min_vip_tier: Mapped[int] = mapped_column(SmallInteger, default=0)
    min_rank: Mapped[Rank] = mapped_column(enum_type(Rank, "rank"), default=Rank.STANDARD)
    body: Mapped[str] = mapped_column(Text)


class AgeVerification(Base):
    """A member verified adult in their jurisdiction: once, for good."""

    __tablename__ = "age_verifications"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE"), primary_key=True
    )
    jurisdiction: Mapped[str] = mapped_column(String(2))
    provider: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(128))
    verified_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class Unlock(Base):
    """A stage a member unlocked: what it cost and on which verification. Never changed or
    deleted (no foreign keys: the log outlives accounts and contents)."""

    __tablename__ = "unlocks"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    content_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(8), primary_key=True)
    price_coins: Mapped[int] = mapped_column(Integer)
    verification: Mapped[str] = mapped_column(String(128))
    unlocked_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
