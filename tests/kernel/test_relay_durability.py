"""The relay marks events published only once Redis has them on disk: a Redis server killed
right after a relay pass still has every event when it comes back on its data directory."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from ensemble.kernel.db import Database
from ensemble.kernel.embedded import EmbeddedRedis
from ensemble.kernel.events import Envelope, publish
from ensemble.kernel.events.bus import Persistence, RedisStreamsBus, persistence_of, stream_name
from ensemble.kernel.events.relay import relay_once
from tests.polling import eventually

EVENTS = 400


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[EmbeddedRedis]:
    """A Redis server of this test's own (it gets killed), started as `serve` starts it."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def redis_pid(server: EmbeddedRedis) -> int:
    return int((server.data_dir / "redis.pid").read_text())


async def answering(server: EmbeddedRedis) -> bool:
    return server.running_port() is not None


async def restarted(server: EmbeddedRedis) -> Redis:
    """The server started again on its data directory (by `server`, which stops it at the
    end), once the killed one is gone."""
    await eventually(lambda: answering(server), lambda up: not up)
    return Redis.from_url(server.start())


async def test_every_relayed_event_is_in_the_stream_after_redis_is_killed(
    database: Database, own_redis: EmbeddedRedis, kind: str
) -> None:
    sent = [
        Envelope(aggregate_type=kind, aggregate_id=f"a{n % 7}", type="noted", payload={"n": n})
        for n in range(EVENTS)
    ]
    async with database.unit_of_work() as session:
        for envelope in sent:
            await publish(session, envelope)
    redis = Redis.from_url(own_redis.start())
    bus = await RedisStreamsBus(redis).persisting()
    assert await relay_once(database, bus, limit=EVENTS) == EVENTS
    os.kill(redis_pid(own_redis), signal.SIGKILL)  # right after the pass committed
    await redis.aclose()
    again = await restarted(own_redis)
    try:
        entries = await again.xrange(stream_name(kind)) or []
        found = [Envelope.from_stream_fields(fields or {}).event_id for _, fields in entries]
        assert found == [envelope.event_id for envelope in sent]
    finally:
        await again.aclose()


async def test_the_relay_knows_what_redis_can_confirm(own_redis: EmbeddedRedis) -> None:
    redis = Redis.from_url(own_redis.start())
    try:
        assert await persistence_of(redis) is Persistence.FSYNC_ALWAYS  # embedded: on disk
        assert not (await RedisStreamsBus(redis).persisting()).wait_aof  # Redis 6.2: no WAITAOF
        await redis.config_set("appendfsync", "everysec")
        assert await persistence_of(redis) is Persistence.NONE
        await redis.config_set("appendonly", "no")
        assert await persistence_of(redis) is Persistence.NONE
    finally:
        await redis.aclose()
