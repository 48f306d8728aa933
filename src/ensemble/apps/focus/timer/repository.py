"""Timer and focus-session queries: the timer's compare-and-set write, the rooms the sweep
finds due, and the sessions each work phase opens and closes (credit from presence spans)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
    Row,
    String,
    Uuid,
    bindparam,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus import domain
from ensemble.apps.focus.models import FocusSession, PresenceSpan, Room, Timer
from ensemble.kernel.db import new_id, utcnow


async def load(session: AsyncSession, room_id: uuid.UUID) -> Timer | None:
    """The timer row as the database has it now (never an older copy from the session)."""
    stmt = select(Timer).where(Timer.room_id == room_id).execution_options(populate_existing=True)
    found: Timer | None = await session.scalar(stmt)
    return found


async def write(
    session: AsyncSession, room_id: uuid.UUID, expected_version: int, timer: domain.Timer
) -> bool:
    """Store `timer` if the row is still at `expected_version` (compare-and-set): False if
    another writer moved it on first (its transaction committed before this one's update)."""
    result = await session.execute(
        update(Timer)
        .where(Timer.room_id == room_id, Timer.version == expected_version)
        .values(**asdict(timer), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def stop(session: AsyncSession, room_id: uuid.UUID) -> None:
    """Make the timer idle whatever its version (a deleted room's), one version on."""
    idle = {**asdict(domain.Timer()), "version": Timer.version + 1}
    await session.execute(
        update(Timer)
        .where(Timer.room_id == room_id)
        .values(**idle, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def due_rooms(session: AsyncSession, now: datetime, limit: int) -> Sequence[uuid.UUID]:
    """Rooms whose running phase ended by `now` (their job is late or lost)."""
    stmt = (
        select(Timer.room_id)
        .join(Room, Room.id == Timer.room_id)
        .where(
            Timer.state == domain.TimerState.RUNNING,
            Timer.phase_ends_at <= now,
            Room.deleted_at.is_(None),
        )
        .order_by(Timer.phase_ends_at)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


def _nobody_present() -> ColumnElement[bool]:
    return ~exists().where(PresenceSpan.room_id == Room.id, PresenceSpan.ended_at.is_(None))


async def empty_running_rooms(
    session: AsyncSession, empty_since: datetime, limit: int
) -> Sequence[Room]:
    """Live rooms whose timer runs with nobody present since `empty_since` or before (since
    the room emptied, or since it was last active if nobody ever came)."""
    stmt = (
        select(Room)
        .join(Timer, Timer.room_id == Room.id)
        .where(
            Room.deleted_at.is_(None),
            Timer.state == domain.TimerState.RUNNING,
            func.coalesce(Room.emptied_at, Room.last_active_at) <= empty_since,
            _nobody_present(),
        )
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def archive_idle(session: AsyncSession, idle_since: datetime, now: datetime) -> int:
    """Archive live rooms nobody is in, nobody joined and nobody left since `idle_since`
    (the last one present leaving sets `emptied_at`); how many."""
    result = await session.execute(
        update(Room)
        .where(
            Room.deleted_at.is_(None),
            Room.archived_at.is_(None),
            func.greatest(Room.last_active_at, Room.emptied_at) <= idle_since,
            _nobody_present(),
        )
        .values(archived_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# Focus sessions


async def open_sessions(
    session: AsyncSession, room_id: uuid.UUID, started_at: datetime, users: Sequence[uuid.UUID]
) -> None:
    """A session of the work phase started at `started_at` for each of `users` who has none."""
    if not users:
        return
    rows = [
        {"id": new_id(), "user_id": user, "room_id": room_id, "started_at": started_at}
        for user in users
    ]
    await session.execute(insert(FocusSession).values(rows).on_conflict_do_nothing())


async def present_during(
    session: AsyncSession, room_id: uuid.UUID, started_at: datetime, ended_at: datetime
) -> Sequence[uuid.UUID]:
    """Users present in the room at some time between `started_at` and `ended_at`."""
    stmt = (
        select(PresenceSpan.user_id)
        .distinct()
        .where(
            PresenceSpan.room_id == room_id,
            PresenceSpan.started_at < ended_at,
            or_(PresenceSpan.ended_at.is_(None), PresenceSpan.ended_at > started_at),
        )
    )
    return (await session.scalars(stmt)).all()


ClosedSession = Row[tuple[uuid.UUID, uuid.UUID, uuid.UUID, datetime, datetime, int, bool]]
"""`id, user_id, room_id, started_at, ended_at, focus_seconds, completed`."""

_CLOSE = text(
    """
    WITH closing AS (
        SELECT s.id,
               extract(epoch FROM :ended_at - s.started_at) AS phase_seconds,
               coalesce(sum(extract(epoch FROM
                   least(coalesce(p.ended_at, :ended_at), :ended_at)
                   - greatest(p.started_at, s.started_at))) FILTER (WHERE p.id IS NOT NULL),
                   0) AS present_seconds
        FROM focus.focus_sessions s
        LEFT JOIN focus.presence_spans p
               ON p.room_id = s.room_id AND p.user_id = s.user_id
              AND p.started_at < :ended_at
              AND (p.ended_at IS NULL OR p.ended_at > s.started_at)
        WHERE s.room_id = :room_id AND s.ended_at IS NULL
          AND (CAST(:started_at AS timestamptz) IS NULL OR s.started_at = :started_at)
          AND (CAST(:user_id AS uuid) IS NULL OR s.user_id = :user_id)
        GROUP BY s.id, s.started_at
    ), credited AS (
        SELECT id,
               floor(least(present_seconds, phase_seconds))::int AS focus_seconds,
               :reason IS NULL AND least(present_seconds, phase_seconds)
                   >= :share * phase_seconds AS completed
        FROM closing
    )
    UPDATE focus.focus_sessions s
    SET ended_at = :ended_at,
        focus_seconds = c.focus_seconds,
        completed = c.completed,
        interrupted_reason = CASE WHEN c.completed THEN NULL
                                  ELSE coalesce(:reason, 'absent') END
    FROM credited c
    WHERE s.id = c.id AND s.ended_at IS NULL
    RETURNING s.id, s.user_id, s.room_id, s.started_at, s.ended_at, s.focus_seconds, s.completed
    """
).bindparams(
    bindparam("room_id", type_=Uuid()),
    bindparam("ended_at", type_=DateTime(timezone=True)),
    bindparam("started_at", type_=DateTime(timezone=True)),
    bindparam("user_id", type_=Uuid()),
    bindparam("reason", type_=String()),
    bindparam("share", type_=Float()),
)


async def close_sessions(
    session: AsyncSession,
    room_id: uuid.UUID,
    ended_at: datetime,
    *,
    reason: str | None,
    started_at: datetime | None = None,
    user_id: uuid.UUID | None = None,
) -> Sequence[ClosedSession]:
    """Close the room's open sessions (of the phase started at `started_at`, of `user_id`, or
    all) at `ended_at`, each credited with its overlap with the user's presence spans:
    completed when that reaches `COMPLETED_SHARE` of the phase and no `reason` interrupted
    it (else `interrupted_reason` is the reason, or `absent`). A session is closed once: a
    concurrent closer finds it closed. Returns the closed sessions."""
    result = await session.execute(
        _CLOSE,
        {
            "room_id": room_id,
            "ended_at": ended_at,
            "started_at": started_at,
            "user_id": user_id,
            "reason": reason,
            "share": domain.COMPLETED_SHARE,
        },
    )
    return result.all()
