"""Heartbeats of the background roles (`worker`, `scheduler`, `relay`, `consume`, …).

While a role process runs, a thread of it refreshes its entry in the Redis sorted set
`heartbeats:<role>` every `HEARTBEAT_INTERVAL_SECONDS`: the member is `<host>:<pid>`, the
score the time (Unix seconds) the entry lapses, `HEARTBEAT_TTL_SECONDS` later. A process
that dies stops refreshing it, so its entry lapses; `/ready` counts a role as missing when
none of its entries is live (`missing_roles`). The scores come from each beating host's
clock: hosts sharing a Redis should keep their clocks within a fraction of the TTL.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ensemble.settings import Settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "heartbeats:"


def heartbeat_key(role: str) -> str:
    return f"{KEY_PREFIX}{role}"


def this_process() -> str:
    """This process's member name in its role's heartbeat set."""
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(redis: SyncRedis, role: str, ttl: float) -> None:
    """Refresh this process's entry for `role` and drop lapsed ones (one round trip)."""
    now, key = time.time(), heartbeat_key(role)
    pipe = redis.pipeline(transaction=False)
    pipe.zadd(key, {this_process(): now + ttl})
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.expire(key, math.ceil(ttl))
    pipe.execute()


@contextmanager
def heartbeat(settings: Settings, role: str) -> Iterator[None]:
    """Beat for `role` now, then from a daemon thread while the block runs; the entry is
    removed when the block ends (a killed process's entry lapses instead)."""
    assert settings.redis_url is not None
    redis = SyncRedis.from_url(settings.redis_url)
    _beat_logged(redis, role, settings.heartbeat_ttl_seconds)
    stop = threading.Event()
    thread = threading.Thread(
        target=_beat_until,
        args=(redis, role, settings, stop),
        name=f"heartbeat-{role}",
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            redis.zrem(heartbeat_key(role), this_process())
        except RedisError:
            logger.warning("could not remove the %s heartbeat", role)
        redis.close()


def _beat_until(redis: SyncRedis, role: str, settings: Settings, stop: threading.Event) -> None:
    while not stop.wait(settings.heartbeat_interval_seconds):
        _beat_logged(redis, role, settings.heartbeat_ttl_seconds)


def _beat_logged(redis: SyncRedis, role: str, ttl: float) -> None:
    try:
        beat(redis, role, ttl)
    except RedisError:
        logger.warning("%s heartbeat failed; retrying", role, exc_info=True)


async def live_members(redis: Redis, roles: Sequence[str]) -> dict[str, list[str]]:
    """The live `<host>:<pid>` entries of each role (one round trip)."""
    now = time.time()
    pipe = redis.pipeline(transaction=False)
    for role in roles:
        pipe.zrangebyscore(heartbeat_key(role), now, "+inf")
    replies: list[list[bytes]] = await pipe.execute()
    return {
        role: [member.decode() for member in reply]
        for role, reply in zip(roles, replies, strict=True)
    }


async def missing_roles(redis: Redis, roles: Sequence[str]) -> list[str]:
    """The roles of `roles` without a live heartbeat."""
    live = await live_members(redis, roles)
    return [role for role in roles if not live[role]]
