"""What Focus Mate publishes: the live channels (a room's, a user's) and the events other
parts consume through the kernel's event backbone (stats, achievements, notifications).

Room channel messages are numbered per room (`seq`, `Publisher.publish_numbered`): a client
that sees a gap sends `{"type":"sync"}` and gets a `room_state` snapshot.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.models import Timer
from ensemble.kernel.db import after_commit
from ensemble.kernel.events import EventPayload

if TYPE_CHECKING:  # settings open the notifiers, which publish on these channels
    from ensemble.apps.focus.settings import FocusResources

AGGREGATE_ROOM = "focus.room"
AGGREGATE_USER = "focus.user"


def room_channel(room_id: uuid.UUID) -> str:
    """Every socket of a room, in every process."""
    return f"focus:room:{room_id}"


def user_channel(user_id: uuid.UUID) -> str:
    """Every `/ws/me` socket of a user: messages and notifications."""
    return f"focus:user:{user_id}"


def tell_room(
    session: AsyncSession,
    resources: FocusResources,
    room_id: uuid.UUID,
    message: Callable[[], dict[str, Any]],
) -> None:
    """Publish `message()` (built when it goes, so its `server_now` is the sending time) on
    the room's channel, numbered, right after the session commits; nothing if it rolls back.
    No job hop: a socket hears a change within a Redis round trip of its commit. A message
    lost with the process is recovered by the client's `sync` on the `seq` gap."""
    publisher = resources.publisher
    if publisher is None:
        return

    async def send() -> None:
        await publisher.publish_numbered(room_channel(room_id), message())

    after_commit(session, send)


def disconnect_from_room(
    session: AsyncSession,
    resources: FocusResources,
    room_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID],
    code: int,
    reason: str,
) -> None:
    """Close these users' sockets on the room, in every process, right after the session
    commits (`Publisher.disconnect`, one per user)."""
    publisher = resources.publisher
    if publisher is None or not user_ids:
        return
    channel = room_channel(room_id)

    async def close() -> None:
        for user_id in user_ids:
            await publisher.disconnect(channel, str(user_id), code, reason)

    after_commit(session, close)


def timer_message(kind: str, timer: Timer, now: datetime) -> dict[str, Any]:
    """A timer message of `kind` (`timer_started`, `timer_paused`, …, `phase_ending_soon`, or
    the `timer` part of `room_state`): the row's state and the server's clock, so a client
    shows both a countdown and the clock time the phase ends."""
    return {
        "type": kind,
        "room_id": str(timer.room_id),
        "version": timer.version,
        "state": timer.state.value,
        "phase": timer.phase.value,
        "phase_started_at": timer.phase_started_at,
        "phase_ends_at": timer.phase_ends_at,
        "paused_remaining_ms": timer.paused_remaining_ms,
        "completed_work_phases": timer.completed_work_phases,
        "server_now": now,
    }


class RoomCreated(EventPayload, type="focus.RoomCreated"):
    room_id: uuid.UUID
    owner_id: uuid.UUID
    created_at: datetime


class FocusSessionEnded(EventPayload, type="focus.SessionEnded"):
    """A participant's work phase closed: credited (`completed`) or not."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    room_id: uuid.UUID
    started_at: datetime
    ended_at: datetime
    focus_seconds: int
    completed: bool


class AchievementUnlocked(EventPayload, type="focus.AchievementUnlocked"):
    user_id: uuid.UUID
    code: str
    name: str
    unlocked_at: datetime


AGGREGATE_POST = "focus.post"


class CommentAdded(EventPayload, type="focus.CommentAdded"):
    """Someone commented on a post: its author may be told (notification kind `community`)."""

    comment_id: uuid.UUID
    post_id: uuid.UUID
    post_author_id: uuid.UUID
    author_id: uuid.UUID
    created_at: datetime
