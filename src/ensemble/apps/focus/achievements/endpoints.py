"""Achievements routes: the catalogue, and yours."""

from __future__ import annotations

from fastapi import APIRouter

from ensemble.apps.focus.achievements import service
from ensemble.apps.focus.achievements.domain import catalogue
from ensemble.apps.focus.achievements.schemas import AchievementPublic, MyAchievements
from ensemble.apps.focus.auth import CurrentUser
from ensemble.apps.focus.schemas import PREFIX, USER, errors
from ensemble.kernel.db import SessionDep

router = APIRouter(prefix=PREFIX, tags=["achievements"])


@router.get("/achievements", responses=errors(*USER))
async def achievements(user: CurrentUser) -> list[AchievementPublic]:
    """Every achievement there is, in display order."""
    return [AchievementPublic.model_validate(each) for each in catalogue()]


@router.get("/achievements/me", responses=errors(*USER))
async def my_achievements(user: CurrentUser, session: SessionDep) -> MyAchievements:
    """Your unlocked achievements (when), and your progress toward the others."""
    return MyAchievements.model_validate(await service.mine(session, user.account_id))
