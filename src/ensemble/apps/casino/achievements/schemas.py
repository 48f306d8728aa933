"""Achievements' response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ensemble.apps.casino.achievements.domain import HandMetric
from ensemble.kernel.schemas import ResponseModel


class AchievementPublic(ResponseModel):
    key: str
    name: str
    description: str
    action_type: str | None = Field(description="Counted actions of this type (or null)")
    hand_metric: HandMetric | None = Field(description="Or this value of your hands (or null)")
    target: int
    reward_coins: int
    progress: int = Field(description="How far toward the target (capped at it)")
    unlocked_at: datetime | None


class AchievementsPublic(ResponseModel):
    """A member's achievements: the whole catalogue for yours, the unlocked ones for
    another member's."""

    items: list[AchievementPublic]
    is_own: bool
