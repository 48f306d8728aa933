"""Game sessions (`/api/games/session/start|end|current`) and stats
(`/api/games/stats/{user_id}`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ensemble.apps.casino import service
from ensemble.apps.casino.auth import CurrentUser
from ensemble.apps.casino.domain import GameType, Period, period_start
from ensemble.apps.casino.schemas import INPUT, OWNED, PREFIX, USER, errors
from ensemble.apps.casino.sessions import service as sessions
from ensemble.apps.casino.sessions.models import GameSession
from ensemble.apps.casino.sessions.schemas import (
    GameSessionPublic,
    SessionStart,
    StatsFull,
    StatsPublic,
)
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=f"{PREFIX}/games", tags=["games"])

NO_OPEN = (404, "You have no open game session (`no_open_session`)")


def _public(game: GameSession) -> GameSessionPublic:
    extended = Extended(game, play_seconds=sessions.play_seconds(game, utcnow()))
    return GameSessionPublic.model_validate(extended)


@router.post(
    "/session/start",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Your open session at this game"}, **errors(*INPUT)},
)
async def start_session(
    body: SessionStart, user: CurrentUser, session: SessionDep, response: Response
) -> GameSessionPublic:
    """Start a game session: 201 with a new one; 200 with your open session if it is at this
    game already; a session open at another game is ended first (one game at a time)."""
    game, created = await sessions.start(session, user.account_id, body.game_type)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _public(game)


@router.post("/session/end", responses=errors(*USER, NO_OPEN))
async def end_session(user: CurrentUser, session: SessionDep) -> GameSessionPublic:
    """End your open game session; its play time is final."""
    return _public(await sessions.end(session, user.account_id))


@router.get("/session/current", responses=errors(*USER, NO_OPEN))
async def current_session(user: CurrentUser, session: SessionDep) -> GameSessionPublic:
    """Your open game session."""
    return _public(await sessions.current(session, user.account_id))


@router.get("/stats/{user_id}", responses=errors(*OWNED))
async def stats(
    user_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    game_type: Annotated[GameType | None, Query()] = None,
    period: Annotated[Period, Query()] = Period.ALL,
) -> StatsFull | StatsPublic:
    """A member's play in the current UTC day, week (from Monday), month or all time, at one
    game or all: everything for yours; another member's without net result and play time."""
    await service.member(session, user_id)
    now = utcnow()
    found = await sessions.stats(session, user_id, game_type=game_type, period=period, now=now)
    shown = Extended(
        found,
        game_type=game_type,
        period=period,
        period_start=period_start(period, now),
        win_rate=found.win_rate,
    )
    own = user_id == user.account_id
    return (StatsFull if own else StatsPublic).model_validate(shown)
