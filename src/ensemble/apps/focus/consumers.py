"""Focus Mate's event consumers (run by `ensemble consume`): each handles its events once
(the kernel's `processed_events`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.events import AGGREGATE_USER, AchievementUnlocked
from ensemble.apps.focus.notifications import service as notifications
from ensemble.kernel.events import Envelope
from ensemble.kernel.events.consumer import consumer


@consumer(
    "focus.notifications.achievements",
    aggregate_types=[AGGREGATE_USER],
    types=[AchievementUnlocked],
)
async def achievement_notifications(session: AsyncSession, envelope: Envelope) -> str:
    """An unlocked achievement notifies its user."""
    return await notifications.achievement_unlocked(session, envelope)


CONSUMERS = (achievement_notifications,)
