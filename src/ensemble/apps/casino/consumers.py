"""Casino-Club's event consumers (run by `ensemble consume`), each handling an event once
(the kernel's `processed_events`): achievements moved by members' actions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.achievements import service as achievements
from ensemble.apps.casino.events import AGGREGATE_ACTION, ActionRecorded
from ensemble.kernel.events import Envelope
from ensemble.kernel.events.consumer import consumer


@consumer("casino.achievements", aggregate_types=[AGGREGATE_ACTION], types=[ActionRecorded])
async def advance_achievements(session: AsyncSession, envelope: Envelope) -> list[str]:
    """An action moves its member's achievements; the keys it unlocked (stored as the
    event's result)."""
    action = envelope.payload_as(ActionRecorded)
    return await achievements.advance(session, action.user_id, action.action_type)


CONSUMERS = (advance_achievements,)
