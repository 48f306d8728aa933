"""A crowd on the room socket: sockets joining at once share snapshot reads (the hub's shared
greeting), and still none of them misses a numbered message its snapshot does not hold."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from ensemble.apps.focus.events import room_channel
from ensemble.kernel.db import Database
from ensemble.kernel.realtime import Publisher
from ensemble.settings import Settings
from tests.apps.focus.conftest import FocusUser, FocusWorld
from tests.apps.focus.live.support import (
    Frame,
    LiveClient,
    focus_served,
    is_type,
    live,
    room_url,
    room_with,
)

CROWD = 12
LINES = 20


@pytest.fixture(scope="module")
async def ws_base(settings: Settings, database: Database) -> AsyncIterator[str]:
    async with focus_served(settings, database, presence_coalesce_ms=50) as base:
        yield base


async def numbers_through(client: LiveClient, last: int) -> list[int]:
    """The numbers of the messages after the client's snapshot, until `last` came."""
    first = client.state["seq"] + 1

    def news(frame: Frame) -> bool:
        return bool(frame.get("seq", 0) >= first)

    seen = [(await client.next_of(news))["seq"]] if last >= first else []
    while seen and seen[-1] < last:
        seen.append((await client.next_of(news))["seq"])
    return seen


async def test_a_crowd_joining_during_chat_misses_no_numbered_message(
    ws_base: str, focus: FocusWorld, database: Database, redis: Redis
) -> None:
    owner = await focus.user()
    crowd = await asyncio.gather(*(focus.user() for _ in range(CROWD)))
    room_id = await room_with(database, owner, crowd)
    async with (
        live(room_url(ws_base, room_id, owner.access_token)) as speaker,
        contextlib.AsyncExitStack() as stack,
    ):

        async def join(who: FocusUser) -> LiveClient:
            return await stack.enter_async_context(
                live(room_url(ws_base, room_id, who.access_token))
            )

        async def speak() -> None:
            for line in range(LINES):
                await speaker.send(type="chat", text=f"line {line}")

        clients, _ = await asyncio.gather(asyncio.gather(*(join(who) for who in crowd)), speak())
        for _ in range(LINES):
            await speaker.next_of(is_type("chat_message"))
        last = await Publisher(redis).last_number(room_channel(room_id))
        for client in clients:
            assert len(client.state["participants"]) == CROWD + 1, "a full snapshot"
            first = client.state["seq"] + 1
            numbers = await numbers_through(client, last)
            assert numbers == list(range(first, first + len(numbers))), numbers
