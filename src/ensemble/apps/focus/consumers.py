"""Focus Mate's event consumers: achievements unlocked from the sessions and rooms a user's
events report (each event once, through the kernel's `processed_events`; each unlock once,
by its unique row)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.achievements import service as achievements
from ensemble.apps.focus.events import (
    AGGREGATE_ROOM,
    AGGREGATE_USER,
    FocusSessionEnded,
    RoomCreated,
)
from ensemble.kernel.events import Envelope
from ensemble.kernel.events.consumer import consumer


@consumer(
    "focus.achievements",
    aggregate_types=[AGGREGATE_ROOM, AGGREGATE_USER],
    types=[FocusSessionEnded, RoomCreated],
)
async def unlock_achievements(session: AsyncSession, envelope: Envelope) -> list[str]:
    """What the event earned its user: the codes unlocked (stored as the event's result)."""
    if envelope.type == RoomCreated.TYPE:
        created = envelope.payload_as(RoomCreated)
        return await achievements.count_hosted_room(
            session, created.owner_id, created.room_id, created.created_at
        )
    ended = envelope.payload_as(FocusSessionEnded)
    return await achievements.unlock_reached(session, ended.user_id)


CONSUMERS = (unlock_achievements,)
