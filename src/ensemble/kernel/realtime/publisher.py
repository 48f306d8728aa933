"""Publishing to hub channels from processes that hold no sockets (jobs, sweeps).

Messages land exactly as `Hub.publish` sends them, so every server process delivers them to
its sockets. A control message can also ask every process to close one member's sockets on
a channel (when the app ends that member's right to listen).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from ensemble.kernel.realtime.connection import encode

DEFAULT_PREFIX = "ensemble:realtime:"
DISCONNECT = "_hub.disconnect"


def disconnect_payload(member_id: str, code: int, reason: str) -> dict[str, Any]:
    return {"type": DISCONNECT, "member_id": member_id, "code": code, "reason": reason}


class Publisher:
    """Publishing on a Redis client: a process's own (`Publisher(redis)`, left open), or one
    of its own for a URL (`async with Publisher(url) as p:`, closed on exit)."""

    def __init__(self, redis: str | Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._owned = isinstance(redis, str)
        self._redis: Redis = Redis.from_url(redis) if isinstance(redis, str) else redis
        self._prefix = prefix

    async def publish(self, channel: str, payload: Mapping[str, Any]) -> int:
        receivers: int = await self._redis.publish(self._prefix + channel, encode(payload))
        return receivers

    async def disconnect(self, channel: str, member_id: str, code: int, reason: str) -> int:
        """Close `member_id`'s sockets on `channel` in every process."""
        return await self.publish(channel, disconnect_payload(member_id, code, reason))

    async def close(self) -> None:
        if self._owned:
            await self._redis.aclose()

    async def __aenter__(self) -> Publisher:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
