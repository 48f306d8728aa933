"""Focus Mate's event consumers (run by `ensemble consume`), each handling an event once
(the kernel's `processed_events`): achievements unlocked from the sessions and rooms a
user's events report (each unlock once, by its unique row), and the notifications of
unlocks and of comments on a user's posts."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.achievements import service as achievements
from ensemble.apps.focus.events import (
    AGGREGATE_POST,
    AGGREGATE_ROOM,
    AGGREGATE_USER,
    AchievementUnlocked,
    CommentAdded,
    FocusSessionEnded,
    RoomCreated,
)
from ensemble.apps.focus.notifications import service as notifications
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


@consumer(
    "focus.notifications.achievements",
    aggregate_types=[AGGREGATE_USER],
    types=[AchievementUnlocked],
)
async def achievement_notifications(session: AsyncSession, envelope: Envelope) -> str:
    """An unlocked achievement notifies its user."""
    return await notifications.achievement_unlocked(session, envelope)


@consumer("focus.notifications.comments", aggregate_types=[AGGREGATE_POST], types=[CommentAdded])
async def comment_notifications(session: AsyncSession, envelope: Envelope) -> str:
    """A comment notifies the post's author."""
    return await notifications.comment_added(session, envelope)


CONSUMERS = (unlock_achievements, achievement_notifications, comment_notifications)
