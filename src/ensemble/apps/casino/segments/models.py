"""Segments' tables: members' daily figures (kept by the `casino.member_days` consumer), the
RFM segments with their history and runs, recommendation rules, self-check results."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.models import SCHEMA, TZ, enum_type
from ensemble.apps.casino.segments.domain import (
    OfferKind,
    PlayStyle,
    RfmGroup,
    RiskLevel,
    RuleSegment,
)
from ensemble.kernel.db import Base, UuidPk, utcnow

USERS = f"{SCHEMA}.users.account_id"


class MemberDay(Base):
    """A member's figures for one UTC day, added to by each of their events."""

    __tablename__ = "member_days"
    __table_args__ = (Index("ix_member_days_day", "day"), {"schema": SCHEMA})

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    actions: Mapped[int] = mapped_column(Integer, default=0)
    hands: Mapped[int] = mapped_column(Integer, default=0)
    coins_bet: Mapped[int] = mapped_column(BigInteger, default=0)
    coins_won: Mapped[int] = mapped_column(BigInteger, default=0)
    gems_spent: Mapped[int] = mapped_column(BigInteger, default=0)
    money_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    purchases: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[datetime] = mapped_column(TZ)


class SegmentDirty(Base):
    """Members whose daily figures changed since the last RFM run (the run takes them)."""

    __tablename__ = "segment_dirty"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )


class UserSegment(Base):
    """A member's RFM scores and group, as of the last run that touched them."""

    __tablename__ = "user_segments"
    __table_args__ = (
        Index("ix_user_segments_group", "rfm_group"),
        Index("ix_user_segments_last_active", "last_active_on"),
        {"schema": SCHEMA},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    rfm_group: Mapped[RfmGroup] = mapped_column(enum_type(RfmGroup, "rfm_group"))
    r: Mapped[int] = mapped_column(SmallInteger)
    f: Mapped[int] = mapped_column(SmallInteger)
    m: Mapped[int] = mapped_column(SmallInteger)
    ltv_score: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    last_active_on: Mapped[date] = mapped_column(Date)
    active_days: Mapped[int] = mapped_column(Integer)
    """Days with activity in the window."""
    money_cents: Mapped[int] = mapped_column(BigInteger)
    """Money spent in the window."""
    updated_at: Mapped[datetime] = mapped_column(TZ)


class SegmentChange(Base):
    """A member's move to another group (the first classification has no `from_group`)."""

    __tablename__ = "segment_history"
    __table_args__ = (Index("ix_segment_history_user", "user_id", "id"), {"schema": SCHEMA})

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    from_group: Mapped[RfmGroup | None] = mapped_column(enum_type(RfmGroup, "rfm_group"))
    to_group: Mapped[RfmGroup] = mapped_column(enum_type(RfmGroup, "rfm_group"))
    r: Mapped[int] = mapped_column(SmallInteger)
    f: Mapped[int] = mapped_column(SmallInteger)
    m: Mapped[int] = mapped_column(SmallInteger)
    changed_at: Mapped[datetime] = mapped_column(TZ)


class RfmRun(Base):
    """One RFM run: the day it scored as of, and how many members it touched and moved."""

    __tablename__ = "rfm_runs"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    full: Mapped[bool] = mapped_column(Boolean)
    touched: Mapped[int] = mapped_column(Integer)
    changed: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(TZ)
    finished_at: Mapped[datetime] = mapped_column(TZ)


class RecommendationRule(Base):
    """One ranked offer for a segment (reference data: shipped by the migration, edited by
    admins)."""

    __tablename__ = "recommendation_rules"
    __table_args__ = (
        UniqueConstraint("segment", "kind", "ref", name="uq_recommendation_rules_offer"),
        CheckConstraint("kind <> 'limit' OR NOT promotional", name="limit_not_promotional"),
        Index("ix_recommendation_rules_segment", "segment", "rank"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    segment: Mapped[RuleSegment] = mapped_column(enum_type(RuleSegment, "rule_segment"))
    rank: Mapped[int] = mapped_column(SmallInteger)
    """1 first."""
    kind: Mapped[OfferKind] = mapped_column(enum_type(OfferKind, "offer_kind"))
    ref: Mapped[str] = mapped_column(String(64))
    """The product id, mission key, banner id or limit suggestion key."""
    title: Mapped[str] = mapped_column(String(100))
    promotional: Mapped[bool] = mapped_column(Boolean)
    """Selling or pushing play: never shown to a member whose self-check was high risk."""
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class QuizResult(Base):
    """One quiz a member took, with consent: the survey, the self-check and what they gave."""

    __tablename__ = "quiz_results"
    __table_args__ = (Index("ix_quiz_results_user", "user_id", "id"), {"schema": SCHEMA})

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    survey: Mapped[dict[str, Any]] = mapped_column(JSONB)
    self_check: Mapped[list[int]] = mapped_column(JSONB)
    play_style: Mapped[PlayStyle] = mapped_column(enum_type(PlayStyle, "play_style"))
    risk_score: Mapped[int] = mapped_column(SmallInteger)
    risk_level: Mapped[RiskLevel] = mapped_column(enum_type(RiskLevel, "risk_level"))
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class MemberRisk(Base):
    """A member's current self-check risk level (their latest quiz): what recommendations and
    campaigns read."""

    __tablename__ = "member_risk"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    risk_level: Mapped[RiskLevel] = mapped_column(enum_type(RiskLevel, "risk_level"))
    quiz_id: Mapped[uuid.UUID]
    updated_at: Mapped[datetime] = mapped_column(TZ)
