"""Helpers of the room and timer tests: rooms opened through the API, a real Redis subscriber
on a room's channel, time moved on by moving a timer's stored instants back, and the app's
background work run in the test's process."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from httpx import Response
from redis.asyncio import Redis
from sqlalchemy import text

from ensemble.apps import load_app
from ensemble.apps.focus.events import room_channel
from ensemble.apps.focus.settings import FocusSettings
from ensemble.kernel.realtime.publisher import DEFAULT_PREFIX
from tests.apps.focus.conftest import API, FocusUser, FocusWorld
from tests.outboxes import Outboxes

DEADLINE_S = 10.0

Message = dict[str, Any]


async def open_room(focus: FocusWorld, owner: FocusUser, **fields: Any) -> dict[str, Any]:
    body = {"name": "Deep work", **fields}
    response = await focus.client.post(f"{API}/rooms", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    room: dict[str, Any] = response.json()
    return room


async def join(
    focus: FocusWorld, room_id: str, user: FocusUser, code: str | None = None
) -> Response:
    body = {"join_code": code} if code else None
    return await focus.client.post(f"{API}/rooms/{room_id}/join", json=body, headers=user.headers)


async def drive(
    focus: FocusWorld, room_id: str, user: FocusUser, command: str, version: int | None = None
) -> Response:
    """`command` on the room's timer; with `version`, only if the timer is still there."""
    params = {} if version is None else {"version": version}
    return await focus.client.post(
        f"{API}/rooms/{room_id}/timer/{command}", headers=user.headers, params=params
    )


async def timer_of(focus: FocusWorld, room_id: str, user: FocusUser) -> dict[str, Any]:
    response = await focus.client.get(f"{API}/rooms/{room_id}/timer", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass
class Listener:
    """A subscriber on a room's channel, as every server process is."""

    messages: asyncio.Queue[Message]

    async def next(self, until: Callable[[Message], bool] = lambda _: True) -> Message:
        """The next message that matches (those before it are dropped)."""

        async def first() -> Message:
            while not until(message := await self.messages.get()):
                pass
            return message

        return await asyncio.wait_for(first(), DEADLINE_S)

    def pending(self) -> list[Message]:
        """What has arrived and not been read."""
        found = []
        while not self.messages.empty():
            found.append(self.messages.get_nowait())
        return found


@asynccontextmanager
async def listening(redis: Redis, room_id: str) -> AsyncIterator[Listener]:
    pubsub = redis.pubsub()
    await pubsub.subscribe(DEFAULT_PREFIX + room_channel(uuid.UUID(room_id)))
    listener = Listener(asyncio.Queue())

    async def pump() -> None:
        async for raw in pubsub.listen():
            if raw["type"] == "message":
                listener.messages.put_nowait(json.loads(raw["data"]))

    task = asyncio.create_task(pump())
    try:
        yield listener
    finally:
        task.cancel()
        await pubsub.aclose()


async def go_back(focus: FocusWorld, room_id: str, by: timedelta) -> None:
    """Time passes for the room's timer: its stored instants (and its pending jobs) move back
    `by`, as if the commands had been given that much earlier."""
    async with focus.database.unit_of_work() as session:
        await session.execute(
            text(
                "UPDATE focus.timers SET"
                " phase_started_at = phase_started_at - CAST(:by AS interval),"
                " phase_ends_at = phase_ends_at - CAST(:by AS interval) WHERE room_id = :room"
            ),
            {"by": by, "room": uuid.UUID(room_id)},
        )
        await session.execute(
            text(
                "UPDATE focus.focus_sessions SET started_at = started_at - CAST(:by AS interval)"
                " WHERE room_id = :room AND ended_at IS NULL"
            ),
            {"by": by, "room": uuid.UUID(room_id)},
        )
        await session.execute(
            text(
                "UPDATE jobs.outbox SET run_at = run_at - CAST(:by AS interval)"
                " WHERE dispatched_at IS NULL AND kwargs->>'room_id' = :room_text"
            ),
            {"by": by, "room_text": room_id},
        )


def background(focus: FocusWorld, redis: Redis, **settings: Any) -> Outboxes:
    """Focus Mate's jobs and events, run here (with `settings` replacing the environment's)."""
    app_settings = {"focus": FocusSettings(**settings)} if settings else {}
    return Outboxes(focus.settings, focus.database, redis, [load_app("focus")], app_settings)
