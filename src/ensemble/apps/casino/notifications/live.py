"""Live delivery across server processes: each message is published on its member's Redis
channel once the sender's transaction commits, and each process listens to every member's
channel with ONE pattern subscription, handing messages to the local streams of that member.

Redis pub/sub is at-most-once, and a process deaf for a moment (a lost connection) misses
what was published meanwhile. Nothing depends on it: the inbox is the truth, ids are
gap-free, so a stream that sees a gap, overflows, or whose process reconnects to Redis reads
what it missed from the inbox (`feed.frames`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import after_commit
from ensemble.kernel.identity.revocation import REVOKED_SESSIONS_CHANNEL

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "casino:notifications:"
PATTERN = f"{CHANNEL_PREFIX}*"
SETTINGS = "settings"
"""The type of the control message telling a member's streams their live mutes changed."""
INBOX_LIMIT = 256
"""Messages waiting for a slow stream; past it the stream reads them from the inbox."""
_RETRY_MIN_S, _RETRY_MAX_S = 0.05, 2.0


def channel(user_id: uuid.UUID) -> str:
    return f"{CHANNEL_PREFIX}{user_id}"


class Inbox:
    """What reached one stream: messages in arrival order, or the word that it must read the
    inbox (`behind`: it overflowed, or its process lost Redis for a while)."""

    def __init__(self, user_id: uuid.UUID, session_id: str | None) -> None:
        self.user_id = user_id
        self.session_id = session_id
        self.behind = False
        self.revoked = False
        self._messages: deque[dict[str, Any]] = deque()
        self._wakeup = asyncio.Event()

    def offer(self, message: dict[str, Any]) -> None:
        if len(self._messages) >= INBOX_LIMIT:
            self._messages.clear()
            self.behind = True
        else:
            self._messages.append(message)
        self._wakeup.set()

    def fall_behind(self) -> None:
        self.behind = True
        self._wakeup.set()

    def revoke(self) -> None:
        self.revoked = True
        self._wakeup.set()

    async def wait(self, timeout: float) -> bool:  # noqa: ASYNC109 - a heartbeat's period
        """Wait up to `timeout` seconds for something; whether anything came."""
        if not self._wakeup.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
        return self._wakeup.is_set()

    def take(self) -> tuple[bool, list[dict[str, Any]]]:
        """Whether the stream is behind, and the messages that came (both reset)."""
        behind, self.behind = self.behind, False
        messages = list(self._messages)
        self._messages.clear()
        self._wakeup.clear()
        return behind, messages


class Relay:
    """A process's live notifications: `publish` (on the process's Redis) and `listen`
    (started with the first stream: one pub/sub connection for every member)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._inboxes: dict[uuid.UUID, set[Inbox]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()

    async def publish(self, user_id: uuid.UUID, message: Mapping[str, Any]) -> None:
        await self._redis.publish(channel(user_id), json.dumps(message, default=str))

    @contextlib.asynccontextmanager
    async def listen(
        self, user_id: uuid.UUID, session_id: str | None = None
    ) -> AsyncIterator[Inbox]:
        """An inbox receiving what is published to `user_id` from now on (the subscription
        is confirmed on entry), and `revoke`d if the session `session_id` is revoked."""
        await self._start()
        inbox = Inbox(user_id, session_id)
        self._inboxes.setdefault(user_id, set()).add(inbox)
        try:
            yield inbox
        finally:
            members = self._inboxes.get(user_id)
            if members is not None:
                members.discard(inbox)
                if not members:
                    del self._inboxes[user_id]

    def local_streams(self) -> int:
        return sum(len(inboxes) for inboxes in self._inboxes.values())

    async def _start(self) -> None:
        async with self._lock:
            if self._ready is None:
                self._ready = asyncio.get_running_loop().create_future()
                pubsub = self._redis.pubsub()
                await pubsub.psubscribe(PATTERN)
                await pubsub.subscribe(REVOKED_SESSIONS_CHANNEL)
                self._reader = asyncio.create_task(self._read(pubsub), name="casino-inbox-relay")
        await asyncio.shield(self._ready)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None

    async def _read(self, pubsub: PubSub) -> None:
        """Deliver what Redis sends; after a lost connection (redis-py reconnects and
        subscribes again) every local stream reads what it may have missed."""
        delay, lost = _RETRY_MIN_S, False
        try:
            while True:
                try:
                    message = await pubsub.get_message(timeout=None)
                except (RedisError, OSError) as exc:
                    logger.warning("casino inbox relay lost Redis: %r", exc)
                    lost = True
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RETRY_MAX_S)
                    continue
                delay = _RETRY_MIN_S
                if message is None:
                    continue
                if message["type"] == "psubscribe":
                    self._subscribed(lost)
                    lost = False
                elif message["type"] in ("pmessage", "message"):
                    self._dispatch(message)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _subscribed(self, after_loss: bool) -> None:
        assert self._ready is not None
        if not self._ready.done():
            self._ready.set_result(None)
        if after_loss:
            for inboxes in list(self._inboxes.values()):
                for inbox in list(inboxes):
                    inbox.fall_behind()

    def _dispatch(self, message: Mapping[str, Any]) -> None:
        name = message["channel"].decode()
        data = message["data"].decode()
        if name == REVOKED_SESSIONS_CHANNEL:
            for inboxes in list(self._inboxes.values()):
                for inbox in list(inboxes):
                    if inbox.session_id == data:
                        inbox.revoke()
            return
        try:
            user_id = uuid.UUID(name.removeprefix(CHANNEL_PREFIX))
            decoded = json.loads(data)
        except ValueError:
            logger.warning("casino inbox relay: unreadable message on %s", name)
            return
        for inbox in list(self._inboxes.get(user_id, ())):
            inbox.offer(decoded)


_OPEN: list[Relay] = []
"""The relays open in this process (one per served app; several only in tests)."""


@contextlib.asynccontextmanager
async def opened(redis: Redis | None) -> AsyncIterator[Relay | None]:
    """The process's relay on its Redis (None without Redis), closed on exit. `notify`
    publishes through it: a sender holds a database session, not the app's resources."""
    if redis is None:
        yield None
        return
    relay = Relay(redis)
    _OPEN.append(relay)
    try:
        yield relay
    finally:
        _OPEN.remove(relay)
        await relay.close()


def publish_after_commit(
    session: AsyncSession, user_id: uuid.UUID, message: Mapping[str, Any]
) -> None:
    """Publish `message` to the member's streams once `session` commits (nothing if it
    rolls back, or if this process has no Redis: streams read the inbox when they resume)."""
    publish_many_after_commit(session, [(user_id, message)])


def publish_many_after_commit(
    session: AsyncSession, messages: Sequence[tuple[uuid.UUID, Mapping[str, Any]]]
) -> None:
    """`publish_after_commit` of each (member, message), in order, after one commit."""
    if not _OPEN or not messages:
        return
    relay = _OPEN[-1]

    async def send() -> None:
        for user_id, message in messages:
            await relay.publish(user_id, message)

    after_commit(session, send)
