"""Focus Mate rows written straight with the ORM, for tests that need a room without going
through the rooms routes (the rooms tests use the routes)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from ensemble.apps.focus.domain import Phase, TimerState
from ensemble.apps.focus.models import Ban, Control, Member, Room, Timer, Visibility
from ensemble.kernel.db import Database


async def add_room(
    database: Database,
    owner_id: uuid.UUID,
    member_ids: Iterable[uuid.UUID] = (),
    *,
    banned_ids: Iterable[uuid.UUID] = (),
) -> uuid.UUID:
    """A public room of `owner_id` with default settings and an idle timer; the owner and
    `member_ids` in it, `banned_ids` banned from it."""
    participants = [owner_id, *member_ids]
    async with database.unit_of_work() as session:
        room = Room(
            owner_id=owner_id,
            name="Deep work",
            work_minutes=25,
            break_minutes=5,
            long_break_minutes=15,
            long_break_every=4,
            max_participants=50,
            member_count=len(participants),
            visibility=Visibility.PUBLIC,
            control=Control.OWNER,
            auto_start_breaks=True,
        )
        session.add(room)
        await session.flush()
        session.add(Timer(room_id=room.id, state=TimerState.IDLE, phase=Phase.WORK))
        session.add_all(Member(room_id=room.id, user_id=user_id) for user_id in participants)
        session.add_all(
            Ban(room_id=room.id, user_id=user_id, banned_by=owner_id) for user_id in banned_ids
        )
        return room.id
