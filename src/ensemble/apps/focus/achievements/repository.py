"""Achievements: queries for unlocks, hosted rooms and the session counts rules need."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, extract, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.achievements.domain import EARLY_HOURS, NIGHT_HOURS
from ensemble.apps.focus.achievements.models import HostedRoom, Unlock
from ensemble.apps.focus.models import FocusSession

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


async def lock_progress(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Hold the user's achievement progress until the transaction ends: two events of one
    user handled at once would each miss the other's row (a room counted, an unlock)."""
    await session.execute(_LOCK, {"key": f"focus.achievements:{user_id}"})


async def add_hosted_room(
    session: AsyncSession, user_id: uuid.UUID, room_id: uuid.UUID, created_at: datetime
) -> None:
    stmt = insert(HostedRoom).values(user_id=user_id, room_id=room_id, created_at=created_at)
    await session.execute(stmt.on_conflict_do_nothing())


async def rooms_hosted(session: AsyncSession, user_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(HostedRoom.user_id == user_id)
    return (await session.execute(stmt)).scalar_one()


def _started_within(hours: tuple[int, int], tz: str) -> ColumnElement[bool]:
    """A completed session started from `hours[0]`:00 to before `hours[1]`:00 local."""
    hour = extract("hour", func.timezone(tz, FocusSession.started_at))
    return and_(FocusSession.completed.is_(True), hour >= hours[0], hour < hours[1])


async def session_counts(
    session: AsyncSession, user_id: uuid.UUID, tz: str
) -> tuple[int, int, int, int]:
    """The user's (completed sessions, focus seconds of closed ones, night sessions, early
    sessions), hours local to `tz`."""
    stmt = select(
        func.count().filter(FocusSession.completed.is_(True)),
        func.sum(FocusSession.focus_seconds),
        func.count().filter(_started_within(NIGHT_HOURS, tz)),
        func.count().filter(_started_within(EARLY_HOURS, tz)),
    ).where(FocusSession.user_id == user_id)
    completed, seconds, night, early = (await session.execute(stmt)).one()
    return completed, seconds or 0, night, early


async def unlocks_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Unlock]:
    stmt = select(Unlock).where(Unlock.user_id == user_id).order_by(Unlock.unlocked_at)
    return (await session.scalars(stmt)).all()


async def unlock(session: AsyncSession, user_id: uuid.UUID, code: str, at: datetime) -> bool:
    """Unlock `code` for the user unless it is (even by a concurrent transaction, which this
    waits for); whether this call did."""
    stmt = (
        insert(Unlock)
        .values(user_id=user_id, code=code, unlocked_at=at)
        .on_conflict_do_nothing()
        .returning(Unlock.code)
    )
    return (await session.execute(stmt)).first() is not None
