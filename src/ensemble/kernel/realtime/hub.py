"""The WebSocket hub: local sockets per channel, fan-out across processes via Redis pub/sub.

Every `publish` goes through Redis (`PUBLISH <prefix><channel>`), also for local members, so
all processes deliver the same messages in the same order. Each process holds one pub/sub
connection and subscribes only to channels that have local members; `join` returns once
Redis has confirmed the subscription, so anything published after it is delivered.

Pub/sub is at-most-once: a message published while a process is disconnected from Redis is
lost for its sockets. Apps keep the truth (for example chat history) in the database and
clients refetch it on reconnect. The hub only moves messages; membership is the app's.

Every hub also listens on the revoked-sessions channel: a socket whose lease names a revoked
session is closed with 4401 `session_revoked` (and one that joins just after, too).

A subscription can go deaf without an error (a half-open connection, a proxy or a failover
that lost it). So the hub sends itself a canary on a channel of its own every
`canary_interval` seconds; one not back within `canary_timeout` makes `problem` say why (the
process reports not ready) and the hub rebuilds its pub/sub connection with every
subscription. The next canary that comes back clears `problem`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from starlette.websockets import WebSocket

from ensemble.kernel.identity.revocation import REVOKED_SESSIONS_CHANNEL
from ensemble.kernel.realtime.auth import (
    CLOSE_GOING_AWAY,
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHENTICATED,
    accept,
)
from ensemble.kernel.realtime.connection import PING, Connection, Encoded, Lease, encode
from ensemble.kernel.realtime.metrics import CONNECTED, PUBLISHED
from ensemble.kernel.realtime.publisher import DEFAULT_PREFIX, DISCONNECT, disconnect_payload
from ensemble.kernel.realtime.sharing import SharedReads
from ensemble.settings import Settings

logger = logging.getLogger(__name__)

_RETRY_MIN_S, _RETRY_MAX_S = 0.05, 5.0
_REVOKED_KEY = REVOKED_SESSIONS_CHANNEL.encode()
_REMEMBER_REVOKED_S = 60.0
_CANARY_CHANNEL = "_hub.canary:"
_CLOSE_OLD_PUBSUB_S = 1.0


Greeting = Callable[[], Awaitable[Any]]
"""The first frame of a joining socket, read once its subscription is confirmed."""


async def _encoded(greeting: Greeting) -> Encoded:
    return Encoded(encode(await greeting()))


@dataclass
class _Channel:
    ready: asyncio.Future[None]  # resolved when Redis confirms the subscription
    members: set[Connection] = field(default_factory=set)


class Hub:
    """Start it with the app (`async with hub:`), then `join`/`leave` sockets and `publish`."""

    def __init__(
        self,
        redis_url: str,
        *,
        heartbeat_interval: float = 20.0,
        heartbeat_timeout: float = 20.0,
        prefix: str = DEFAULT_PREFIX,
        max_pending: int = 256,
        send_timeout: float = 5.0,
        subscribe_timeout: float = 5.0,
        canary_interval: float = 5.0,
        canary_timeout: float = 2.0,
    ) -> None:
        self.name = f"realtime-{uuid.uuid4().hex[:12]}"
        self._redis_url = redis_url
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_timeout = heartbeat_timeout
        self._prefix = prefix
        self._max_pending = max_pending
        self._send_timeout = send_timeout
        self._subscribe_timeout = subscribe_timeout
        self._canary_interval = canary_interval
        self._canary_timeout = canary_timeout
        self._canary_key = f"{prefix}{_CANARY_CHANNEL}{self.name}"
        self._canary_raw = self._canary_key.encode()
        self._canaries: dict[str, asyncio.Future[None]] = {}
        self._problem: str | None = None
        self._channels: dict[str, _Channel] = {}
        self._confirmations: dict[str, deque[asyncio.Future[None]]] = {}
        self._connected = 0
        self._redis: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock: asyncio.Lock | None = None
        self._revoked_recently: dict[str, float] = {}
        self._greetings: SharedReads[Encoded] = SharedReads()

    @classmethod
    def from_settings(cls, settings: Settings) -> Hub:
        """A hub on `settings.redis_url` (resolved) with the configured heartbeat."""
        if settings.redis_url is None:
            raise RuntimeError("settings.redis_url must be resolved before starting the hub")
        return cls(
            settings.redis_url,
            heartbeat_interval=settings.realtime_heartbeat_seconds,
            heartbeat_timeout=settings.realtime_heartbeat_timeout_seconds,
            canary_interval=settings.realtime_canary_seconds,
            canary_timeout=settings.realtime_canary_timeout_seconds,
        )

    @property
    def problem(self) -> str | None:
        """Why this process should not take sockets now (its last canary did not come back
        through Redis), or None."""
        return self._problem

    # Lifecycle

    async def start(self) -> None:
        self._redis = Redis.from_url(self._redis_url, client_name=self.name, socket_keepalive=True)
        self._pubsub = await self._open_pubsub()
        self._lock = asyncio.Lock()
        self._reader = self._start_reader(self._pubsub)
        self._tasks = [
            asyncio.create_task(self._heartbeat_loop(), name=f"{self.name}:heartbeat"),
            asyncio.create_task(self._canary_loop(), name=f"{self.name}:canary"),
        ]

    async def stop(self) -> None:
        """Close every local socket (1001), then the Redis connections; no task is left."""
        pubsub, self._pubsub = self._pubsub, None  # leaving sockets need not unsubscribe now
        connections = self._all_connections()
        for connection in connections:
            connection.close(CLOSE_GOING_AWAY, "server shutting down")
        await asyncio.gather(*(c.wait_closed(self._send_timeout) for c in connections))
        for connection in connections:  # a writer cancelled after the grace did not detach
            await self._detach(connection)
        await self._greetings.close()
        tasks = [*self._tasks, *([self._reader] if self._reader else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks, self._reader = [], None
        if pubsub is not None:
            await pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # Sockets

    @contextlib.asynccontextmanager
    async def connection(
        self,
        channel: str,
        websocket: WebSocket,
        member_id: str,
        lease: Lease | None = None,
        *,
        greeting: Greeting | None = None,
        share_greeting: bool = False,
    ) -> AsyncIterator[Connection]:
        """`join` on enter and `leave` on exit, however the block ends."""
        joined = await self.join(
            channel, websocket, member_id, lease, greeting=greeting, share_greeting=share_greeting
        )
        try:
            yield joined
        finally:
            await self.leave(joined)

    async def join(
        self,
        channel: str,
        websocket: WebSocket,
        member_id: str,
        lease: Lease | None = None,
        *,
        greeting: Greeting | None = None,
        share_greeting: bool = False,
    ) -> Connection:
        """Add an (accepted, or accepted here) socket to `channel` on this process; it is
        closed when its `lease` ends.

        `greeting()` is the socket's first frame (a snapshot): called once the subscription
        is confirmed, and sent before anything published to the channel meanwhile, so a
        snapshot read after joining misses nothing that follows it.

        With `share_greeting` the greeting is the channel's, the same for every member:
        sockets of this process joining the channel together share one read of it, encoded
        once (`SharedReads`: each still gets a read that started after it joined)."""
        await accept(websocket)
        connection = Connection(
            websocket,
            channel,
            member_id,
            max_pending=self._max_pending,
            send_timeout=self._send_timeout,
            on_closed=self._detach,
            lease=lease,
        )
        try:
            await self._attach(connection)
            if greeting is not None:
                connection.send_first(
                    await self._greetings.read(channel, partial(_encoded, greeting))
                    if share_greeting
                    else await greeting()
                )
        except BaseException:
            await self._detach(connection)
            raise
        connection.start()
        return connection

    async def leave(self, connection: Connection) -> None:
        """Remove the socket from its channel and stop its writer (the socket is not closed if
        the client already left; otherwise it is closed normally)."""
        await self._detach(connection)
        connection.close()
        await connection.wait_closed(self._send_timeout)

    def local_count(self, channel: str | None = None) -> int:
        """Sockets joined on this process: on `channel`, or on all channels."""
        if channel is None:
            return self._connected
        entry = self._channels.get(channel)
        return len(entry.members) if entry else 0

    def local_members(self, channel: str) -> list[str]:
        """Member ids with a socket on `channel` in this process (one per socket)."""
        entry = self._channels.get(channel)
        return [c.member_id for c in list(entry.members)] if entry else []

    # Publishing

    async def disconnect(self, channel: str, member_id: str, code: int, reason: str) -> int:
        """Close `member_id`'s sockets on `channel`, in every process."""
        return await self.publish(channel, disconnect_payload(member_id, code, reason))

    async def publish(self, channel: str, payload: Mapping[str, Any]) -> int:
        """Send `payload` (JSON) to every socket on `channel`, in every process.

        Returns how many processes were subscribed (Redis' answer to PUBLISH).
        """
        if self._redis is None:
            raise RuntimeError("the hub is not started")
        receivers: int = await self._redis.publish(self._key(channel), encode(payload))
        PUBLISHED.inc()
        return receivers

    # Subscriptions

    def _key(self, channel: str) -> str:
        return self._prefix + channel

    def _started(self) -> tuple[PubSub, asyncio.Lock]:
        if self._pubsub is None or self._lock is None:
            raise RuntimeError("the hub is not started")
        return self._pubsub, self._lock

    async def _attach(self, connection: Connection) -> None:
        """Register the socket; the first on a channel subscribes. Every joiner waits for
        Redis' confirmation of the channel's subscription."""
        pubsub, lock = self._started()
        async with lock:
            entry = self._channels.get(connection.channel)
            if entry is None:
                entry = await self._subscribe(pubsub, connection.channel)
            entry.members.add(connection)
            self._connected += 1
            CONNECTED.inc()
            if connection.lease.session_id in self._revoked_recently:
                connection.drop(CLOSE_UNAUTHENTICATED, "session_revoked")
        async with asyncio.timeout(self._subscribe_timeout):
            await asyncio.shield(entry.ready)

    async def _subscribe(self, pubsub: PubSub, channel: str) -> _Channel:
        """Send SUBSCRIBE (under the lock); confirmations come back in order, per channel."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = self._confirmations.setdefault(channel, deque())
        waiting.append(ready)
        try:
            await pubsub.subscribe(self._key(channel))
        except BaseException:
            waiting.remove(ready)
            raise
        entry = self._channels[channel] = _Channel(ready)
        return entry

    async def _detach(self, connection: Connection) -> None:
        """Unregister the socket (idempotent); the last one on a channel unsubscribes."""
        if self._lock is None:
            return
        async with self._lock:
            entry = self._channels.get(connection.channel)
            if entry is None or connection not in entry.members:
                return
            entry.members.discard(connection)
            self._connected -= 1
            CONNECTED.dec()
            if entry.members:
                return
            del self._channels[connection.channel]
            if self._pubsub is None:
                return
            try:
                await self._pubsub.unsubscribe(self._key(connection.channel))
            except (RedisError, OSError) as exc:
                logger.warning("unsubscribing %s failed: %r", connection.channel, exc)

    def _all_connections(self) -> list[Connection]:
        return [c for entry in list(self._channels.values()) for c in list(entry.members)]

    # Background tasks

    async def _open_pubsub(self, *channels: str) -> PubSub:
        """A pub/sub connection listening to the revoked sessions, this hub's canary and
        `channels` (keys)."""
        assert self._redis is not None
        pubsub = self._redis.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]
            await pubsub.subscribe(REVOKED_SESSIONS_CHANNEL, self._canary_key, *channels)
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise
        return pubsub

    def _start_reader(self, pubsub: PubSub) -> asyncio.Task[None]:
        return asyncio.create_task(self._read_loop(pubsub), name=f"{self.name}:reader")

    async def _resubscribe(self) -> None:
        """Replace the pub/sub connection with a new one holding every subscription (within
        `subscribe_timeout`, else the next canary tries again); joins still waiting for their
        confirmation get it from the new connection."""
        _, lock = self._started()
        async with lock:
            try:
                async with asyncio.timeout(self._subscribe_timeout):
                    fresh = await self._open_pubsub(*map(self._key, self._channels))
            except (TimeoutError, RedisError, OSError) as exc:
                logger.warning("realtime resubscription failed: %r", exc)
                return
            self._confirmations = {
                channel: deque([entry.ready])
                for channel, entry in self._channels.items()
                if not entry.ready.done()
            }
            old, self._pubsub = self._pubsub, fresh
            old_reader, self._reader = self._reader, self._start_reader(fresh)
        if old_reader is not None:
            old_reader.cancel()
            await asyncio.gather(old_reader, return_exceptions=True)
        if old is not None:
            with contextlib.suppress(Exception):  # the old link may be dead or stuck
                async with asyncio.timeout(_CLOSE_OLD_PUBSUB_S):
                    await old.aclose()
        logger.warning("realtime pub/sub rebuilt with %d channels", len(self._channels))

    async def _read_loop(self, pubsub: PubSub) -> None:
        """Deliver what Redis sends; on a lost connection retry with backoff (redis-py
        reconnects and resubscribes)."""
        delay = _RETRY_MIN_S
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                logger.warning("realtime pub/sub connection lost: %r", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
                continue
            delay = _RETRY_MIN_S
            if message is None:
                continue
            try:
                self._dispatch(message)
            except Exception:  # one bad message must not stop delivery for the process
                logger.exception("realtime message could not be delivered")

    def _dispatch(self, message: Mapping[str, Any]) -> None:
        raw = message.get("channel")
        if not isinstance(raw, bytes):
            return
        if raw == _REVOKED_KEY:
            if message["type"] == "message":
                self._revoke(message["data"].decode())
            return
        if raw == self._canary_raw:
            if message["type"] == "message":
                self._canary_back(message["data"].decode())
            return
        channel = raw.decode()[len(self._prefix) :]
        kind = message["type"]
        if kind == "message":
            self._fan_out(channel, message["data"].decode())
        elif kind == "subscribe":
            waiting = self._confirmations.get(channel)
            if waiting:
                future = waiting.popleft()
                if not future.done():
                    future.set_result(None)
            if not waiting:
                self._confirmations.pop(channel, None)

    def _fan_out(self, channel: str, text: str) -> None:
        entry = self._channels.get(channel)
        if entry is None:
            return
        if DISCONNECT in text and self._disconnect(entry, text):
            return
        for connection in list(entry.members):
            if not connection.offer(text):
                connection.drop(CLOSE_TRY_AGAIN_LATER, "too_slow")

    @staticmethod
    def _disconnect(entry: _Channel, text: str) -> bool:
        """Handle a control message closing one member's sockets; False if it is not one."""
        command = json.loads(text)
        if not isinstance(command, dict) or command.get("type") != DISCONNECT:
            return False
        for connection in list(entry.members):
            if connection.member_id == command.get("member_id"):
                connection.close(int(command.get("code", 1000)), str(command.get("reason", "")))
        return True

    def _revoke(self, session_id: str) -> None:
        """Close the local sockets of a revoked session, and remember it for a while for
        sockets verified before the revocation but joining after it."""
        now = time.monotonic()
        recent = self._revoked_recently
        while recent and next(iter(recent.values())) < now - _REMEMBER_REVOKED_S:
            del recent[next(iter(recent))]
        recent[session_id] = now
        for connection in self._all_connections():
            if connection.lease.session_id == session_id:
                connection.drop(CLOSE_UNAUTHENTICATED, "session_revoked")

    async def _canary_loop(self) -> None:
        while True:
            await asyncio.sleep(self._canary_interval)
            if await self._canary_returns():
                self._problem = None
                continue
            self._problem = (
                f"The realtime subscription is deaf: a canary did not come back through Redis"
                f" within {self._canary_timeout:g}s."
            )
            logger.warning("realtime canary lost; resubscribing")
            await self._resubscribe()

    async def _canary_returns(self) -> bool:
        """Publish a canary on this hub's own channel: did it come back in time?"""
        assert self._redis is not None
        token = uuid.uuid4().hex
        back = self._canaries[token] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self._canary_timeout):
                await self._redis.publish(self._canary_key, token)
                await back
        except (TimeoutError, RedisError, OSError):
            return False
        finally:
            del self._canaries[token]
        return True

    def _canary_back(self, token: str) -> None:
        back = self._canaries.get(token)
        if back is not None and not back.done():
            back.set_result(None)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            self._beat(time.monotonic())

    def _beat(self, now: float) -> None:
        """Ping every socket; drop those silent since before the previous ping's deadline."""
        silent_for = self._heartbeat_interval + self._heartbeat_timeout
        for connection in self._all_connections():
            if now - connection.last_seen > silent_for:
                connection.drop(CLOSE_HEARTBEAT_TIMEOUT, "heartbeat_timeout")
            elif not connection.offer(PING):
                connection.drop(CLOSE_TRY_AGAIN_LATER, "too_slow")
