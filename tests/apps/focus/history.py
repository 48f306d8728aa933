"""A user's focus history written straight with the ORM (the rooms part writes it for real):
rooms, sessions, the user's time zone, and the events the rooms part publishes about them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import update

from ensemble.apps.focus.events import AGGREGATE_ROOM, FocusSessionEnded, RoomCreated
from ensemble.apps.focus.models import FocusSession, UserSettings
from ensemble.kernel.db import Database, new_id
from ensemble.kernel.events import Envelope


def session_row(
    user_id: uuid.UUID,
    room_id: uuid.UUID,
    started_at: datetime,
    *,
    minutes: float = 25,
    completed: bool | None = True,
    ended: bool = True,
    goal: str | None = None,
) -> FocusSession:
    """A session started at `started_at`: closed after `minutes` (completed or interrupted
    by `skipped`), or still open."""
    return FocusSession(
        id=new_id(),
        user_id=user_id,
        room_id=room_id,
        started_at=started_at,
        ended_at=started_at + timedelta(minutes=minutes) if ended else None,
        focus_seconds=round(minutes * 60) if ended else None,
        completed=completed if ended else None,
        interrupted_reason=None if completed or not ended else "skipped",
        goal=goal,
    )


async def add_sessions(database: Database, *rows: FocusSession) -> list[FocusSession]:
    async with database.unit_of_work() as session:
        session.add_all(rows)
    return list(rows)


async def set_timezone(database: Database, user_id: uuid.UUID, timezone: str) -> None:
    async with database.unit_of_work() as session:
        await session.execute(
            update(UserSettings).where(UserSettings.account_id == user_id).values(timezone=timezone)
        )


def ended(row: FocusSession) -> Envelope:
    """The `FocusSessionEnded` the rooms part publishes when `row` closes."""
    assert row.ended_at is not None
    assert row.focus_seconds is not None
    payload = FocusSessionEnded(
        session_id=row.id,
        user_id=row.user_id,
        room_id=row.room_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        focus_seconds=row.focus_seconds,
        completed=bool(row.completed),
    )
    return Envelope.of(payload, aggregate_type=AGGREGATE_ROOM, aggregate_id=str(row.room_id))


def created(room_id: uuid.UUID, owner_id: uuid.UUID, at: datetime) -> Envelope:
    """The `RoomCreated` the rooms part publishes."""
    payload = RoomCreated(room_id=room_id, owner_id=owner_id, created_at=at)
    return Envelope.of(payload, aggregate_type=AGGREGATE_ROOM, aggregate_id=str(room_id))
