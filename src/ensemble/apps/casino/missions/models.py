"""Missions' tables: the definitions (reference data admins edit) and each member's
progress per mission and window."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.domain import RewardKind, RewardSpec
from ensemble.apps.casino.models import SCHEMA, TZ
from ensemble.kernel.db import Base, utcnow

USERS = f"{SCHEMA}.users.account_id"


class Mission(Base):
    """A mission: a goal on actions within a window, and its reward (coins, or an item).
    Admins deactivate a mission rather than delete it: progress and grants keep its key.
    The action type and the item are checked when a mission is written, not by foreign
    keys: they are reference tables too (the tests put their shipped rows back) and are
    never deleted."""

    __tablename__ = "missions"
    __table_args__ = (
        CheckConstraint("target >= 1", name="target_positive"),
        CheckConstraint("window_kind IN ('daily', 'weekly', 'once')", name="window_known"),
        CheckConstraint("(context_key IS NULL) = (context_min IS NULL)", name="filter_whole"),
        CheckConstraint(
            "(reward_kind = 'coins' AND reward_amount > 0 AND reward_item_id IS NULL"
            " AND reward_quantity IS NULL) OR (reward_kind = 'item' AND reward_amount IS NULL"
            " AND reward_item_id IS NOT NULL AND reward_quantity > 0)",
            name="reward_fits_kind",
        ),
        {"schema": SCHEMA},
    )

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    action_type: Mapped[str] = mapped_column(String(64))
    target: Mapped[int] = mapped_column(Integer)
    context_key: Mapped[str | None] = mapped_column(String(64))
    context_min: Mapped[int | None] = mapped_column(BigInteger)
    window_kind: Mapped[str] = mapped_column(String(8))
    reward_kind: Mapped[str] = mapped_column(String(8))
    reward_amount: Mapped[int | None] = mapped_column(Integer)
    reward_item_id: Mapped[str | None] = mapped_column(String(64))
    reward_quantity: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)

    @property
    def reward(self) -> RewardSpec:
        return RewardSpec(
            RewardKind(self.reward_kind),
            amount=self.reward_amount,
            item_id=self.reward_item_id,
            quantity=self.reward_quantity,
        )


class MissionProgress(Base):
    """A member's count toward a mission in one window; `claimed_at` is set once, by the one
    `UPDATE … WHERE claimed_at IS NULL` that found it unset (that claim is rewarded)."""

    __tablename__ = "mission_progress"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    mission_key: Mapped[str] = mapped_column(
        String(64), ForeignKey(f"{SCHEMA}.missions.key", ondelete="CASCADE"), primary_key=True
    )
    window_label: Mapped[str] = mapped_column(String(16), primary_key=True)
    """`day:2026-12-07`, `week:2026-W50` or `once` (`domain.window_label`)."""
    progress: Mapped[int] = mapped_column(BigInteger, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(TZ)
    reward_id: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
