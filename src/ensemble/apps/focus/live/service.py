"""Live rooms' use cases: who may be in a room, its snapshot, chat, clock sync, and what
presence writes to PostgreSQL (spans, the room's emptied time). Never commit.

Snapshot and stream agree through the room's `seq`: every room message is published
(numbered) after the change it tells is committed, and a snapshot reads the last number
before the database. So whatever a snapshot misses has a larger number, and a client applies
the messages numbered above its snapshot's (some of them may repeat what it shows; each
message is a state, so applying it again changes nothing).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.events import room_channel
from ensemble.apps.focus.live import repository
from ensemble.apps.focus.live.models import MAX_CHAT, RoomMessage
from ensemble.apps.focus.live.schemas import ChatMessagePublic
from ensemble.apps.focus.models import Room
from ensemble.apps.focus.rooms import service as rooms
from ensemble.apps.focus.rooms.service import Banned, RoomNotFound
from ensemble.apps.focus.timer import service as timers
from ensemble.kernel.db import Database, utcnow
from ensemble.kernel.db.repository import insert
from ensemble.kernel.pagination import Page, PageRequest
from ensemble.kernel.realtime import Publisher

if TYPE_CHECKING:
    from ensemble.apps.focus.live.presence import Presence


# Access


async def require_member(session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID) -> Room:
    """The room, if it is not deleted and the user is in it: a banned user is told so, and
    an outsider of a private room learns nothing of it (404, as every room route answers)."""
    if await repository.members.is_banned(session, room_id, user_id):
        raise Banned("You are banned from this room.")
    return await rooms.member_room(session, room_id, user_id)


# The snapshot

HIDDEN = "hidden"
"""The status shown of a participant whose settings keep their presence to themselves; no
presence diff ever names them."""


async def room_state(
    database: Database, publisher: Publisher, presence: Presence, room_id: uuid.UUID
) -> dict[str, Any]:
    """`room_state`: the room, its timer as it is now, its participants with their presence,
    and `seq`, the number of the last room message it includes (read first)."""
    seq = await publisher.last_number(room_channel(room_id))
    async with database.unit_of_work() as session:
        room = await repository.rooms.live(session, room_id)
        if room is None:
            raise RoomNotFound("No such room.")
        now = utcnow()
        clock = await timers.current(session, room, now)
        participants = await repository.members.participants(session, room_id)
    statuses = await presence.statuses(room_id)
    timer = timers.message("room_state", clock, now)
    del timer["type"]
    return {
        "type": "room_state",
        "seq": seq,
        "room": _room_part(room),
        "timer": timer,
        "participants": [
            {
                "user_id": user_id,
                "display_name": name,
                "joined_at": joined_at,
                "status": statuses.get(user_id, "offline") if shown else HIDDEN,
            }
            for user_id, name, joined_at, shown in participants
        ],
        "server_now": now,
    }


def _room_part(room: Room) -> dict[str, Any]:
    return {
        "room_id": room.id,
        "name": room.name,
        "owner_id": room.owner_id,
        "settings": {
            "work_minutes": room.work_minutes,
            "break_minutes": room.break_minutes,
            "long_break_minutes": room.long_break_minutes,
            "long_break_every": room.long_break_every,
            "max_participants": room.max_participants,
            "visibility": room.visibility.value,
            "control": room.control.value,
            "auto_start_breaks": room.auto_start_breaks,
        },
    }


# Chat


def is_chat_text(text: object) -> TypeGuard[str]:
    """1–1000 characters, not only blanks, that PostgreSQL can store (no NUL)."""
    return (
        isinstance(text, str)
        and 0 < len(text) <= MAX_CHAT
        and bool(text.strip())
        and "\x00" not in text
    )


async def post_chat(
    session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID, text: str
) -> RoomMessage:
    """Keep a participant's chat line (the caller commits, then publishes it)."""
    await require_member(session, room_id, user_id)
    return await insert(session, RoomMessage(room_id=room_id, user_id=user_id, text=text))


def chat_message(message: RoomMessage) -> dict[str, Any]:
    """The `chat_message` room message of a kept line."""
    return {"type": "chat_message", **ChatMessagePublic.model_validate(message).model_dump()}


async def history(
    session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID, page: PageRequest
) -> Page[RoomMessage]:
    await require_member(session, room_id, user_id)
    return await repository.messages.page_of(session, room_id, page)


# Clock sync


def epoch_ms() -> int:
    return int(utcnow().timestamp() * 1000)


def pong(t0: int | float, received_ms: int) -> dict[str, Any]:
    """The answer to `ping {t0}`: the server's receive (`t1`) and send (`t2`) times, in ms
    since the epoch, so the client estimates its offset ((t1 - t0) + (t2 - t3)) / 2 and the
    round trip (t3 - t0) - (t2 - t1)."""
    return {"type": "pong", "t0": t0, "t1": received_ms, "t2": epoch_ms()}


# Presence in PostgreSQL (called by `presence.Presence`)


async def arrived(
    session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID, at: datetime
) -> None:
    """The user became present: open their span; the room is no longer empty."""
    await repository.rooms.lock(session, room_id)
    await repository.spans.open(session, room_id, user_id, at)
    await repository.rooms.occupied(session, room_id, at)


async def departed(
    session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID, dropped_at: datetime
) -> None:
    """The user's grace ran out: their span ends when their last socket dropped, and the
    room is emptied then if nobody else is present."""
    await repository.rooms.lock(session, room_id)
    await repository.spans.close(session, room_id, user_id, dropped_at)
    await repository.rooms.emptied_if_nobody_left(session, room_id, dropped_at)
