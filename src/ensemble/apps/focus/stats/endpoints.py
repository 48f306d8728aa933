"""Sessions and stats routes: your sessions (list, goal) and your stats over local days."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from ensemble.apps.focus.auth import CurrentUser
from ensemble.apps.focus.schemas import INPUT, OWNED, PREFIX, errors
from ensemble.apps.focus.stats import service
from ensemble.apps.focus.stats.domain import Period
from ensemble.apps.focus.stats.repository import Span
from ensemble.apps.focus.stats.schemas import SessionPublic, SessionUpdate, StatsPublic
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Instant

router = APIRouter(prefix=PREFIX, tags=["stats"])


@router.get("/sessions/me", responses=errors(*INPUT))
async def my_sessions(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    since: Annotated[
        Instant | None, Query(alias="from", description="Started at or after this instant")
    ] = None,
    until: Annotated[
        Instant | None, Query(alias="to", description="Started before this instant")
    ] = None,
) -> Page[SessionPublic]:
    """Your focus sessions, newest first (open ones too: `ended_at` null). `from` after
    `to` is a 422 `invalid_range`."""
    found = await service.sessions_of(session, user.account_id, Span(since, until), page)
    return found.map(SessionPublic.model_validate)


@router.patch(
    "/sessions/{session_id}",
    responses=errors(
        *OWNED,
        (409, "The session has ended (`session_ended`), or has no goal to mark (`goal_missing`)"),
    ),
)
async def update_session(
    session_id: uuid.UUID, body: SessionUpdate, user: CurrentUser, session: SessionDep
) -> SessionPublic:
    """Set the goal of one of your sessions while it is open (null clears it), and mark it
    done or not, while the session is open or after it ended. Another user's session is
    404."""
    updated = await service.update_session(session, user.account_id, session_id, body.changes())
    return SessionPublic.model_validate(updated)


@router.get("/stats/me", responses=errors(*INPUT))
async def my_stats(
    user: CurrentUser,
    session: SessionDep,
    period: Period = Period.WEEK,
    tz: Annotated[
        str | None,
        Query(max_length=64, description="IANA time zone; your settings' by default"),
    ] = None,
    day: Annotated[
        date | None,
        Query(alias="date", description="A local day in the period; today by default"),
    ] = None,
) -> StatsPublic:
    """Your focus time, sessions and completion rate over the local day, week (Monday to
    Sunday) or calendar month holding `date`, day by day, and your current and longest
    streaks. Days are local to `tz` (or your settings' time zone), so a DST change day lasts
    23 or 25 hours; a session counts on the day it started. An unknown `tz` is a 422
    `invalid_timezone`; a period at the calendar's edge (its bounds before year 1 or after
    9999 in `tz`) a 422 `date_out_of_range`."""
    stats = await service.stats_of(
        session, user.account_id, period=period, day=day, tz=tz, now=utcnow()
    )
    return StatsPublic.of(stats)
