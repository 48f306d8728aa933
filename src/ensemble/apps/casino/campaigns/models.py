"""Campaigns: one row each, moved `scheduled → sent` (or `cancelled`) by one conditional
UPDATE, so a campaign is delivered once however often its job runs."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.models import SCHEMA, TZ, enum_type
from ensemble.kernel.db import Base, UuidPk, utcnow


class CampaignStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    SENT = "sent"
    CANCELLED = "cancelled"


class Audience(enum.StrEnum):
    """Whom a campaign is for: an RFM group's members, or all members."""

    ALL = "all"
    WHALE = "WHALE"
    HIGH_ENGAGED = "HIGH_ENGAGED"
    MEDIUM = "MEDIUM"
    LOW_AT_RISK = "LOW_AT_RISK"


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_due", "send_at", postgresql_where="status = 'scheduled'"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(2000))
    segment: Mapped[Audience] = mapped_column(enum_type(Audience, "campaign_audience"))
    promotional: Mapped[bool] = mapped_column(Boolean)
    """Skips members whose self-check was high risk."""
    send_at: Mapped[datetime] = mapped_column(TZ)
    status: Mapped[CampaignStatus] = mapped_column(
        enum_type(CampaignStatus, "campaign_status"), default=CampaignStatus.SCHEDULED
    )
    recipients: Mapped[int | None] = mapped_column(Integer)
    """How many members it was sent to (once sent)."""
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(TZ)
    cancelled_at: Mapped[datetime | None] = mapped_column(TZ)
