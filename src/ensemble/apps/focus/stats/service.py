"""Sessions and stats: the caller's sessions and their goal, and their stats over local days.
Never commit."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.models import FocusSession, UserSettings
from ensemble.apps.focus.stats import domain
from ensemble.apps.focus.stats.domain import Day, Period, Stats, Totals
from ensemble.apps.focus.stats.repository import Span, sessions
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.pagination import Page, PageRequest


class SessionNotFound(NotFound):
    code = "session_not_found"


class SessionEnded(Conflict):
    code = "session_ended"


class GoalMissing(Conflict):
    code = "goal_missing"


class InvalidTimeZone(InvalidInput):
    code = "invalid_timezone"


class InvalidRange(InvalidInput):
    code = "invalid_range"


class DateOutOfRange(InvalidInput):
    code = "date_out_of_range"


# Sessions


async def sessions_of(
    session: AsyncSession, user_id: uuid.UUID, span: Span, page: PageRequest
) -> Page[FocusSession]:
    """The user's sessions started in `span`, newest first."""
    if span.since is not None and span.until is not None and span.since > span.until:
        raise InvalidRange("`from` is after `to`.")
    return await sessions.page_of(session, user_id, span, page)


async def update_session(
    session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, changes: dict[str, Any]
) -> FocusSession:
    """Set the goal (while the session is open; None clears it and its done mark) and mark
    it done or not (while open or after it ended, once it has a goal). Another user's
    session is missing (404)."""
    found = await sessions.get(session, session_id, lock=True)
    if found is None or found.user_id != user_id:
        raise SessionNotFound("No such session.")
    if "goal" in changes:
        if found.ended_at is not None:
            raise SessionEnded("The session has ended: its goal can no longer change.")
        found.goal = changes["goal"]
        if found.goal is None:
            found.goal_done = None
    if "goal_done" in changes:
        if found.goal is None:
            raise GoalMissing("The session has no goal to mark.")
        found.goal_done = changes["goal_done"]
    await session.flush()
    return found


# Stats


async def zone_of(session: AsyncSession, user_id: uuid.UUID, tz: str | None) -> ZoneInfo:
    """`tz` if given (422 `invalid_timezone` unless an IANA zone), else the user's setting
    (UTC if they have none or it is no longer a zone)."""
    if tz is not None:
        found = domain.zone(tz)
        if found is None:
            raise InvalidTimeZone(f"{tz!r} is not an IANA time zone.", details={"tz": tz})
        return found
    settings = await session.get(UserSettings, user_id)
    chosen = settings.timezone if settings is not None else domain.DEFAULT_ZONE
    return domain.zone(chosen) or ZoneInfo(domain.DEFAULT_ZONE)


async def streaks(
    session: AsyncSession, user_id: uuid.UUID, tz: ZoneInfo, today: date
) -> tuple[int, int]:
    """The user's (current, longest) streak of local days in `tz` with a completed session."""
    return await sessions.streaks(session, user_id, tz.key, domain.streak_alive_since(today))


async def stats_of(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    period: Period,
    day: date | None,
    tz: str | None,
    now: datetime,
) -> Stats:
    """The user's stats over the `period` holding local `day` (today by default)."""
    zone = await zone_of(session, user_id, tz)
    today = now.astimezone(zone).date()
    try:  # a period at the calendar's edge (year 1 or 9999) has bounds no instant can hold
        window = domain.window(period, day or today, zone)
        starts_at, ends_at = window.starts_at, window.ends_at
    except OverflowError as exc:
        raise DateOutOfRange(f"No {period.value} around {day} can be counted.") from exc
    rows = await sessions.daily(session, user_id, zone.key, starts_at, ends_at)
    by_day = {local: Totals(total, done, seconds) for local, total, done, seconds in rows}
    current, longest = await streaks(session, user_id, zone, today)
    return Stats(
        period=period,
        window=window,
        days=[Day(each, by_day.get(each, Totals())) for each in window.days],
        current_streak=current,
        longest_streak=longest,
    )
