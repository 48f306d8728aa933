"""Achievements' table: each member's progress toward each catalogue entry and its unlock."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.models import SCHEMA, TZ
from ensemble.kernel.db import Base, utcnow


class AchievementProgress(Base):
    """How far a member is toward an achievement; `unlocked_at` is set once, by the one
    `UPDATE … WHERE unlocked_at IS NULL` that found it unset (the unlock pays the reward)."""

    __tablename__ = "achievement_progress"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    progress: Mapped[int] = mapped_column(BigInteger, default=0)
    unlocked_at: Mapped[datetime | None] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
