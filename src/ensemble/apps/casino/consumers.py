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
from ensemble.apps.casino.missions import service as missions
from ensemble.apps.casino.segments import service as segments
from ensemble.apps.casino.vip import service as vip
from ensemble.kernel.db import utcnow
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


# VIP tiers and missions (B3)


@consumer("casino.vip", aggregate_types=[AGGREGATE_ACTION], types=[ActionRecorded])
async def review_vip(session: AsyncSession, envelope: Envelope) -> str | None:
    """An action may move its member's VIP tier up at once (or end their period); the move
    it made, if any."""
    action = envelope.payload_as(ActionRecorded)
    move = await vip.note_action(
        session, action.user_id, action.action_type, action.occurred_at, now=utcnow()
    )
    return None if move is None else move.value


@consumer("casino.missions", aggregate_types=[AGGREGATE_ACTION], types=[ActionRecorded])
async def advance_missions(session: AsyncSession, envelope: Envelope) -> list[str]:
    """An action counts toward its member's missions, in the window of when it happened; the
    keys it moved."""
    action = envelope.payload_as(ActionRecorded)
    return await missions.advance(
        session, action.user_id, action.action_type, action.context, action.occurred_at
    )


CONSUMERS = (advance_achievements, add_to_member_days, review_vip, advance_missions)
