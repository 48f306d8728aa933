"""Achievements: response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ensemble.apps.focus.achievements.domain import Metric
from ensemble.kernel.schemas import ResponseModel


class AchievementPublic(ResponseModel):
    """A catalogue entry: unlocked once `metric` reaches `target`."""

    code: str
    name: str
    description: str
    metric: Metric
    target: int


class UnlockedPublic(AchievementPublic):
    unlocked_at: datetime


class LockedPublic(AchievementPublic):
    progress: int = Field(description="How far you are toward `target`")


class MyAchievements(ResponseModel):
    unlocked: list[UnlockedPublic] = Field(description="Oldest unlock first")
    locked: list[LockedPublic] = Field(description="In catalogue order")
