"""Shared reads (`SharedReads`) and the hub's shared greeting: callers arriving together
share one read, and nobody gets a read that started before they asked; the process's Redis
pool makes a burst wait for a connection rather than fail."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import ClientConnection, connect

from ensemble.kernel.realtime import Hub
from ensemble.kernel.realtime.sharing import SharedReads
from ensemble.kernel.redis import process_redis
from ensemble.settings import Settings
from tests.kernel.test_realtime import DEADLINE_S, PREFIX, ChannelApp, build_app
from tests.polling import eventually
from tests.serving import uvicorn_serving


class Gated:
    """A read that counts its runs and waits, each run, for its gate to open."""

    def __init__(self, runs: int) -> None:
        self.gates = [asyncio.Event() for _ in range(runs)]
        self.started = 0

    async def __call__(self) -> int:
        run = self.started = self.started + 1
        await self.gates[run - 1].wait()
        return run

    async def started_runs(self) -> int:
        return self.started


def queued_on(shared: SharedReads[int], key: str) -> Callable[[], Awaitable[bool]]:
    """A probe for `eventually`: callers wait for the next read of `key`."""

    async def probe() -> bool:
        return shared.queued(key)

    return probe


async def test_callers_arriving_together_share_one_read() -> None:
    shared: SharedReads[int] = SharedReads()
    read = Gated(1)
    callers = [asyncio.create_task(shared.read("room", read)) for _ in range(20)]
    await eventually(read.started_runs, lambda n: n == 1)
    read.gates[0].set()
    assert await asyncio.gather(*callers) == [1] * 20
    assert read.started == 1


async def test_a_caller_arriving_during_a_read_gets_the_next_one() -> None:
    shared: SharedReads[int] = SharedReads()
    read = Gated(2)
    first = asyncio.create_task(shared.read("room", read))
    await eventually(read.started_runs, lambda n: n == 1)
    late = [asyncio.create_task(shared.read("room", read)) for _ in range(5)]
    await eventually(queued_on(shared, "room"), bool)
    assert read.started == 1, "a second read never overlaps the first"
    read.gates[0].set()
    assert await first == 1
    await eventually(read.started_runs, lambda n: n == 2)
    read.gates[1].set()
    assert await asyncio.gather(*late) == [2] * 5, "not the read that had started before"


async def test_keys_are_read_apart() -> None:
    shared: SharedReads[str] = SharedReads()

    async def read_of(key: str) -> str:
        return key

    both = await asyncio.gather(
        shared.read("a", lambda: read_of("a")), shared.read("b", lambda: read_of("b"))
    )
    assert list(both) == ["a", "b"]


async def test_a_failed_read_fails_its_callers_and_the_next_call_reads_again() -> None:
    shared: SharedReads[int] = SharedReads()
    calls = 0

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise LookupError("gone")
        return calls

    results = await asyncio.gather(
        *(shared.read("room", flaky) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(result, LookupError) for result in results)
    assert await shared.read("room", flaky) == 2


async def test_a_cancelled_caller_leaves_the_read_to_the_others() -> None:
    shared: SharedReads[int] = SharedReads()
    read = Gated(1)
    leaving = asyncio.create_task(shared.read("room", read))
    staying = asyncio.create_task(shared.read("room", read))
    await eventually(read.started_runs, lambda n: n == 1)
    leaving.cancel()
    read.gates[0].set()
    assert await staying == 1
    assert leaving.cancelled()


async def test_closing_cancels_the_waiting_callers() -> None:
    shared: SharedReads[int] = SharedReads()
    read = Gated(2)
    first = asyncio.create_task(shared.read("room", read))
    await eventually(read.started_runs, lambda n: n == 1)
    queued = asyncio.create_task(shared.read("room", read))
    await eventually(queued_on(shared, "room"), bool)
    await shared.close()
    for caller in (first, queued):
        with pytest.raises(asyncio.CancelledError):
            await caller


# The hub's shared greeting


def shared_greeting_app(hub: Hub, read: Gated) -> FastAPI:
    app = build_app(ChannelApp(hub))

    @app.websocket("/ws/shared/{channel}")
    async def shared(websocket: WebSocket, channel: str) -> None:
        async def greeting() -> dict[str, Any]:
            return {"type": "snapshot", "read": await read()}

        async with hub.connection(
            channel, websocket, "someone", greeting=greeting, share_greeting=True
        ) as joined:
            async for _ in joined.messages():
                pass

    return app


async def test_sockets_joining_together_share_one_greeting_read(redis_url: str) -> None:
    """The first socket's read is under way when five more join: they share the next read
    (one, not five), and each gets it as its first frame."""
    hub = Hub(redis_url, prefix=PREFIX)
    read = Gated(2)
    channel = f"shared-{uuid.uuid4().hex}"
    async with uvicorn_serving(shared_greeting_app(hub, read)) as base_url:
        url = f"ws{base_url.removeprefix('http')}/ws/shared/{channel}"

        async def first_frame(socket: ClientConnection) -> Any:
            async with asyncio.timeout(DEADLINE_S):
                return json.loads(await socket.recv())

        async with connect(url) as first:
            await eventually(read.started_runs, lambda n: n == 1)
            others = await asyncio.gather(*(connect(url) for _ in range(5)))
            try:

                async def joined() -> int:
                    return hub.local_count(channel)

                await eventually(joined, lambda n: n == 6)
                read.gates[0].set()
                read.gates[1].set()
                assert await first_frame(first) == {"type": "snapshot", "read": 1}
                frames = await asyncio.gather(*(first_frame(socket) for socket in others))
                assert frames == [{"type": "snapshot", "read": 2}] * 5
                assert read.started == 2
            finally:
                await asyncio.gather(*(socket.close() for socket in others))


# The process's Redis pool


async def test_a_burst_beyond_the_redis_pool_waits_for_a_connection(redis_url: str) -> None:
    """More commands at once than the pool has connections: each waits for one (a pool
    that refused would raise `MaxConnectionsError`)."""
    settings = Settings(redis_url=redis_url, redis_max_connections=2)
    redis = process_redis(redis_url, settings)
    key = f"burst-{uuid.uuid4().hex}"
    try:
        await asyncio.gather(*(redis.incr(key) for _ in range(50)))
        assert int(await redis.get(key) or 0) == 50
    finally:
        await redis.delete(key)
        await redis.aclose()
