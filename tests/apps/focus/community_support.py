"""Helpers of the users, settings, community and moderation tests: what the app wrote, and
rows the tests need that other parts of the app own (a room, focus sessions)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from ensemble.apps.focus.models import FocusSession
from ensemble.kernel.db import Database
from tests.apicheck import snapshot, tables_of


async def focus_rows(database: Database) -> dict[str, list[str]]:
    """Every row Focus Mate and the accounts hold: equal snapshots mean nothing was written."""
    return await snapshot(database, await tables_of(database, "focus", "identity"))


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
