"""Helpers of the users, settings, community and moderation tests: what the app wrote, and
rows the tests need that other parts of the app own (a room, focus sessions)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from ensemble.apps.focus.domain import Phase, TimerState
from ensemble.apps.focus.models import Control, FocusSession, Room, Timer, Visibility
from ensemble.kernel.db import Database, new_id
from tests.apicheck import snapshot, tables_of


async def focus_rows(database: Database) -> dict[str, list[str]]:
    """Every row Focus Mate and the accounts hold: equal snapshots mean nothing was written."""
    return await snapshot(database, await tables_of(database, "focus", "identity"))


async def room_of(database: Database, owner_id: uuid.UUID) -> uuid.UUID:
    """A public room of `owner_id`, written as the rooms' use cases would."""
    room_id = new_id()
    async with database.unit_of_work() as session:
        session.add(
            Room(
                id=room_id,
                owner_id=owner_id,
                name="Deep work",
                work_minutes=25,
                break_minutes=5,
                long_break_minutes=15,
                long_break_every=4,
                max_participants=50,
                visibility=Visibility.PUBLIC,
                control=Control.OWNER,
                auto_start_breaks=True,
            )
        )
        await session.flush()
        session.add(Timer(room_id=room_id, state=TimerState.IDLE, phase=Phase.WORK))
    return room_id


async def focus_session(
    database: Database,
    user_id: uuid.UUID,
    room_id: uuid.UUID,
    started_at: datetime,
    *,
    focus_seconds: int | None,
    completed: bool | None,
) -> None:
    """A work phase of `user_id` in the room: ended (with `focus_seconds`) or still open."""
    ended = focus_seconds is not None
    async with database.unit_of_work() as session:
        session.add(
            FocusSession(
                user_id=user_id,
                room_id=room_id,
                started_at=started_at,
                ended_at=started_at + timedelta(minutes=25) if ended else None,
                focus_seconds=focus_seconds,
                completed=completed,
            )
        )
