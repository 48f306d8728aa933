"""`GET /api/games/achievements/{user_id}`: the catalogue with a member's progress."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from ensemble.apps.casino import service
from ensemble.apps.casino.achievements import service as achievements
from ensemble.apps.casino.achievements.schemas import AchievementPublic, AchievementsPublic
from ensemble.apps.casino.auth import CurrentUser
from ensemble.apps.casino.schemas import OWNED, PREFIX, errors
from ensemble.kernel.db import SessionDep
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=f"{PREFIX}/games", tags=["games"])


@router.get("/achievements/{user_id}", responses=errors(*OWNED))
async def member_achievements(
    user_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> AchievementsPublic:
    """Yours: every achievement with your progress and unlock time. Another member's: the
    ones they unlocked."""
    await service.member(session, user_id)
    own = user_id == user.account_id
    items = [
        AchievementPublic.model_validate(
            Extended(each.achievement, progress=each.progress, unlocked_at=each.unlocked_at)
        )
        for each in await achievements.standings(session, user_id)
        if own or each.unlocked_at is not None
    ]
    return AchievementsPublic(items=items, is_own=own)
