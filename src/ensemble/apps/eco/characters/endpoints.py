"""ECO² character routes: parse, authorize, call the use case, shape the response."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ensemble.apps.eco.auth import CurrentUser
from ensemble.apps.eco.characters import service
from ensemble.apps.eco.schemas import (
    INPUT,
    PREFIX,
    USER,
    CharacterPublic,
    OwnedCharacters,
    Ranking,
    errors,
)
from ensemble.kernel.db import SessionDep
from ensemble.kernel.redis import RedisDep
from ensemble.kernel.schemas import Instant, IntegerLiteral

router = APIRouter(prefix=PREFIX, tags=["characters"])


@router.get("/characters", responses=errors(*USER))
async def catalogue(_: CurrentUser, session: SessionDep) -> list[CharacterPublic]:
    return [CharacterPublic.model_validate(c) for c in await service.catalogue(session)]


@router.get("/characters/me", responses=errors(*USER))
async def owned(user: CurrentUser, session: SessionDep, redis: RedisDep) -> OwnedCharacters:
    """Owned characters (read model; from the event store when it has none for you)."""
    items = await service.owned(session, redis, user.account_id)
    return OwnedCharacters(items=items, total=len(items))


@router.get("/characters/me/history", responses=errors(*INPUT))
async def owned_history(
    user: CurrentUser, session: SessionDep, at: Annotated[Instant, Query()]
) -> OwnedCharacters:
    """Owned characters as they were at `at` (replayed from the event store)."""
    items = await service.owned_at(session, user.account_id, at)
    return OwnedCharacters(items=items, total=len(items), at=at)


@router.get("/characters/ranking", responses=errors(*INPUT))
async def ranking(
    user: CurrentUser,
    redis: RedisDep,
    period: Literal["weekly"] = "weekly",
    limit: Annotated[int, Query(ge=1, le=100), IntegerLiteral] = 10,
) -> Ranking:
    """This ISO week's collectors, most characters first."""
    del period  # only weekly exists
    return await service.weekly_ranking(redis, user.account_id, limit)
