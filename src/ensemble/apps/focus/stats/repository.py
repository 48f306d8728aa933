"""Sessions and stats: queries on `focus.focus_sessions`. Local days are computed by
PostgreSQL (`timezone(tz, started_at)`), with the same IANA zone the caller's window uses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Date, Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.models import FocusSession
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.pagination import Page, PageRequest


@dataclass(frozen=True)
class Span:
    """Sessions started in `[since, until)`; an end left open is unbounded."""

    since: datetime | None = None
    until: datetime | None = None


def local_day(tz: str) -> ColumnElement[date]:
    """A session's local start day in `tz`."""
    return cast(func.timezone(tz, FocusSession.started_at), Date)


class Sessions(Repository[FocusSession]):
    async def page_of(
        self, session: AsyncSession, user_id: uuid.UUID, span: Span, request: PageRequest
    ) -> Page[FocusSession]:
        """The user's sessions, newest first."""
        conditions = [FocusSession.user_id == user_id]
        if span.since is not None:
            conditions.append(FocusSession.started_at >= span.since)
        if span.until is not None:
            conditions.append(FocusSession.started_at < span.until)
        stmt = self.select().where(*conditions)
        keys = (FocusSession.started_at, FocusSession.id)
        return await self.page(session, stmt, request, keys, descending=True)

    async def daily(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        tz: str,
        starts_at: datetime,
        ends_at: datetime,
    ) -> Sequence[tuple[date, int, int, int]]:
        """Per local day of `tz` with closed sessions started in `[starts_at, ends_at)`:
        (day, sessions, completed ones, focus seconds)."""
        day = local_day(tz).label("day")
        stmt = (
            select(
                day,
                func.count(),
                func.count().filter(FocusSession.completed.is_(True)),
                func.sum(FocusSession.focus_seconds),
            )
            .where(
                FocusSession.user_id == user_id,
                FocusSession.ended_at.is_not(None),
                FocusSession.started_at >= starts_at,
                FocusSession.started_at < ends_at,
            )
            .group_by(day)
        )
        rows = (await session.execute(stmt)).all()
        return [(day, total, completed, seconds or 0) for day, total, completed, seconds in rows]

    async def streaks(
        self, session: AsyncSession, user_id: uuid.UUID, tz: str, alive_since: date
    ) -> tuple[int, int]:
        """(current, longest) runs of consecutive local days of `tz` with a completed
        session; the current one is the run whose last day is `alive_since` or later.
        Gaps and islands: a day minus its rank is the same for every day of one run."""
        days = (
            select(local_day(tz).label("day"))
            .where(FocusSession.user_id == user_id, FocusSession.completed.is_(True))
            .distinct()
            .subquery()
        )
        rank = cast(func.row_number().over(order_by=days.c.day), Integer)
        ranked = select(days.c.day, (days.c.day - rank).label("run")).subquery()
        runs = (
            select(func.max(ranked.c.day).label("last"), func.count().label("length"))
            .group_by(ranked.c.run)
            .subquery()
        )
        stmt = select(
            func.coalesce(func.max(runs.c.length).filter(runs.c.last >= alive_since), 0),
            func.coalesce(func.max(runs.c.length), 0),
        )
        current, longest = (await session.execute(stmt)).one()
        return current, longest


sessions = Sessions(FocusSession)
