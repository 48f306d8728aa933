"""A member's slot win streak (the hands themselves are `casino.hands`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.models import SCHEMA, TZ
from ensemble.kernel.db import Base, utcnow


class SlotStreak(Base):
    """Consecutive winning spins: the current run and the best ever."""

    __tablename__ = "slot_streaks"
    __table_args__ = (
        CheckConstraint("current >= 0 AND best >= current", name="streak_within_best"),
        {"schema": SCHEMA},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE"), primary_key=True
    )
    current: Mapped[int] = mapped_column(Integer, default=0)
    best: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
