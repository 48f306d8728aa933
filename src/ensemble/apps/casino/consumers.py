"""Casino-Club's event consumers (run by `ensemble consume`), each handling an event once
(the kernel's `processed_events`): achievements moved by members' actions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.achievements import service as achievements
from ensemble.apps.casino.events import (
    AGGREGATE_ACTION,
    AGGREGATE_PURCHASE,
    ActionRecorded,
    PurchaseFulfilled,
)
from ensemble.apps.casino.segments import service as segments
from ensemble.kernel.events import Envelope
from ensemble.kernel.events.consumer import consumer


@consumer("casino.achievements", aggregate_types=[AGGREGATE_ACTION], types=[ActionRecorded])
async def advance_achievements(session: AsyncSession, envelope: Envelope) -> list[str]:
    """An action moves its member's achievements; the keys it unlocked (stored as the
    event's result)."""
    action = envelope.payload_as(ActionRecorded)
    return await achievements.advance(session, action.user_id, action.action_type)


@consumer(
    "casino.member_days",
    aggregate_types=[AGGREGATE_ACTION, AGGREGATE_PURCHASE],
    types=[ActionRecorded, PurchaseFulfilled],
)
async def add_to_member_days(session: AsyncSession, envelope: Envelope) -> None:
    """An action or a fulfilled purchase added to its member's daily figures (B1), once per
    event (the kernel's `processed_events` commits with the addition)."""
    if envelope.type == PurchaseFulfilled.TYPE:
        await segments.add_purchase(session, envelope.payload_as(PurchaseFulfilled).purchase_id)
    else:
        await segments.add_action(session, envelope.payload_as(ActionRecorded))


CONSUMERS = (advance_achievements, add_to_member_days)
