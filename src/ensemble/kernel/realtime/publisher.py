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


_PUBLISH_NUMBERED = """
local number = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[1], '{"seq":' .. number .. ',' .. string.sub(ARGV[2], 2))
return number
"""
"""Number and publish in one step: Redis runs a script alone, so the numbers reach every
subscriber in order, whichever process published."""
SEQ_TTL_S = 7 * 24 * 3600
"""A channel's counter outlives a week of silence; after that it starts again at 1, and a
client seeing the number go back asks for a snapshot as it does for a gap."""


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

    async def publish_numbered(self, channel: str, payload: Mapping[str, Any]) -> int:
        """Publish `payload` (a JSON object) with `"seq"` set to the channel's next number,
        1, 2, 3…, shared by every process: a subscriber that sees a number skipped knows it
        missed a message. Returns the number."""
        body = encode(payload)
        if not body.startswith("{") or body == "{}":
            raise ValueError("a numbered message is a non-empty JSON object")
        args = (self._prefix + channel, body, SEQ_TTL_S)
        number = await self._redis.eval(_PUBLISH_NUMBERED, 1, self._seq_key(channel), *args)
        return int(number)

    async def last_number(self, channel: str) -> int:
        """The number of the channel's last numbered message (0 before the first)."""
        found = await self._redis.get(self._seq_key(channel))
        return int(found) if found is not None else 0

    def _seq_key(self, channel: str) -> str:
        return f"{self._prefix}seq:{channel}"

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
