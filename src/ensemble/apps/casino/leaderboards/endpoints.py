"""`GET /api/games/leaderboard`: a board's top, your rank and your neighbours."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ensemble.apps.casino.auth import CurrentUser
from ensemble.apps.casino.domain import GameType, Period
from ensemble.apps.casino.leaderboards import service as leaderboards
from ensemble.apps.casino.leaderboards.schemas import LeaderboardEntry, LeaderboardPublic
from ensemble.apps.casino.schemas import INPUT, PREFIX, errors
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.redis import RedisDep
from ensemble.kernel.schemas import IntegerLiteral

router = APIRouter(prefix=f"{PREFIX}/games", tags=["games"])

MAX_LIMIT = 100


@router.get(
    "/leaderboard",
    responses=errors(*INPUT, (503, "Redis is not configured (`redis_unavailable`)")),
)
async def leaderboard(
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
    game_type: Annotated[GameType | None, Query()] = None,
    period: Annotated[Period, Query()] = Period.WEEK,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT), IntegerLiteral] = 10,
    around_me: Annotated[bool, Query()] = False,
) -> LeaderboardPublic:
    """The members with the best net coin winnings in the current UTC day, week (from
    Monday), month or all time, at one game or every game; your own rank, and with
    `around_me=true` the entries around yours."""
    found = await leaderboards.board(
        redis,
        game_type,
        period,
        utcnow(),
        limit=limit,
        user_id=user.account_id,
        around_me=around_me,
    )
    shown = [*found.top, *(found.around or []), *([found.me] if found.me else [])]
    names = await leaderboards.nicknames(session, {each.user_id for each in shown})

    def entry(standing: leaderboards.Standing) -> LeaderboardEntry:
        return LeaderboardEntry(
            rank=standing.rank,
            user_id=standing.user_id,
            nickname=names.get(standing.user_id, ""),
            score=standing.score,
        )

    return LeaderboardPublic(
        game_type=game_type,
        period=period,
        period_start=found.period_start,
        entries=[entry(each) for each in found.top],
        me=entry(found.me) if found.me else None,
        around=None if found.around is None else [entry(each) for each in found.around],
    )
