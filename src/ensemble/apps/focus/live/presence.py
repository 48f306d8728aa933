"""Room presence across server processes, kept in Redis (decision 25).

Every socket of a room is a field of its user's hash in Redis, with a lease its process
renews; a user is present while they have a socket, and for `grace` after their last one
closed (or its process stopped renewing), so a reconnect to any process within the grace
changes nothing. Each change of a user's status (online, away, offline) is decided by one
Lua script, so the first arrival and the last departure are decided once across processes
and tabs; the change is added to the room's pending diff, which one process takes and
publishes (numbered) once the room's coalescing window is over.

Every process with room sockets runs one loop (`Presence`): it renews its sockets' leases,
ends the graces that ran out (closing presence spans in PostgreSQL) and publishes the diffs
that are due. It wakes when one of its own changes falls due, and every `sweep` seconds for
changes left by a process that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ensemble.apps.focus.events import room_channel
from ensemble.apps.focus.live import repository, service
from ensemble.kernel.db import Database
from ensemble.kernel.realtime import Publisher

logger = logging.getLogger(__name__)

PREFIX = "focus:presence:"
_BATCH = 500  # lapsed leases, ended graces or due diffs handled per script call
_FLUSH_LOCK_MS = 10_000  # a process that took a diff and died frees its room after this
_STOP_GRACE_S = 5.0


class Status(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


_SETTLE = """
local function settle(P, room, user, due)
  local new = 'away'
  for _, status in ipairs(redis.call('HVALS', P .. room .. ':' .. user)) do
    if status == 'online' then new = 'online' break end
  end
  local users = P .. room .. ':users'
  local old = redis.call('HGET', users, user)
  if old ~= new then
    redis.call('HSET', users, user, new)
    redis.call('HSET', P .. room .. ':pending', user, new)
    redis.call('ZADD', P .. 'flush', 'NX', due, room)
  end
  return old
end
"""
"""A user's status from their sockets' (online if one is); a change joins the room's pending
diff, due at `due` unless a diff is already scheduled."""

_CONNECT = (
    _SETTLE
    + """
local P, room, user, socket = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local member = room .. '|' .. user
redis.call('HSET', P .. room .. ':' .. user, socket, 'online')
redis.call('ZADD', P .. 'leases', ARGV[5], member .. '|' .. socket)
redis.call('ZREM', P .. 'grace', member)
redis.call('HDEL', P .. 'dropped', member)
return settle(P, room, user, ARGV[6])
"""
)
"""Add a socket; returns the user's status before it (nil: they arrive)."""

_STATUS = (
    _SETTLE
    + """
local P, room, user, socket = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local sockets = P .. room .. ':' .. user
if redis.call('HEXISTS', sockets, socket) == 0 then return 0 end
redis.call('HSET', sockets, socket, ARGV[5])
settle(P, room, user, ARGV[6])
return 1
"""
)

_DISCONNECT = (
    _SETTLE
    + """
local P, room, user, socket = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local sockets = P .. room .. ':' .. user
local member = room .. '|' .. user
redis.call('ZREM', P .. 'leases', member .. '|' .. socket)
if redis.call('HDEL', sockets, socket) == 0 then return 0 end
if redis.call('EXISTS', sockets) == 0 then
  redis.call('ZADD', P .. 'grace', ARGV[6], member)
  redis.call('HSET', P .. 'dropped', member, ARGV[5])
  return 2
end
settle(P, room, user, ARGV[7])
return 1
"""
)
"""Remove a socket; the user's last one starts their grace (returns 2)."""

_EXPIRE = (
    _SETTLE
    + """
local P, now, grace, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local lapsed = redis.call(
  'ZRANGEBYSCORE', P .. 'leases', '-inf', now, 'WITHSCORES', 'LIMIT', 0, ARGV[5])
for i = 1, #lapsed, 2 do
  local member, seen = lapsed[i], tonumber(lapsed[i + 1]) - lease
  redis.call('ZREM', P .. 'leases', member)
  local room, user, socket = string.match(member, '^([^|]+)|([^|]+)|([^|]+)$')
  local sockets = P .. room .. ':' .. user
  redis.call('HDEL', sockets, socket)
  if redis.call('EXISTS', sockets) == 0 then
    local deadline = string.format('%d', math.max(seen + grace, now))
    redis.call('ZADD', P .. 'grace', deadline, room .. '|' .. user)
    redis.call('HSET', P .. 'dropped', room .. '|' .. user, string.format('%d', seen))
  else
    settle(P, room, user, ARGV[6])
  end
end
local gone = {}
local ended = redis.call('ZRANGEBYSCORE', P .. 'grace', '-inf', now, 'LIMIT', 0, ARGV[5])
for _, member in ipairs(ended) do
  redis.call('ZREM', P .. 'grace', member)
  local dropped = redis.call('HGET', P .. 'dropped', member) or ARGV[2]
  redis.call('HDEL', P .. 'dropped', member)
  local room, user = string.match(member, '^([^|]+)|([^|]+)$')
  redis.call('HDEL', P .. room .. ':users', user)
  redis.call('HSET', P .. room .. ':pending', user, 'offline')
  redis.call('ZADD', P .. 'flush', 'NX', ARGV[6], room)
  table.insert(gone, {room, user, dropped})
end
return gone
"""
)
"""Sockets whose process stopped renewing their lease leave (their user's grace counts from
the last renewal); users whose grace ran out go offline. Returns `[room, user, dropped_ms]`
of each user gone."""

_TAKE_DUE = """
local P = ARGV[1]
local taken = {}
local due = redis.call('ZRANGEBYSCORE', P .. 'flush', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
for _, room in ipairs(due) do
  if redis.call('SET', P .. room .. ':flushing', '1', 'NX', 'PX', ARGV[4]) then
    redis.call('ZREM', P .. 'flush', room)
    table.insert(taken, {room, redis.call('HGETALL', P .. room .. ':pending')})
    redis.call('DEL', P .. room .. ':pending')
  end
end
return taken
"""
"""Take the pending diffs that are due, one room at a time across processes (the room stays
taken until `release`, so diffs go out in the order they were taken)."""


@dataclass(frozen=True)
class Socket:
    room_id: uuid.UUID
    user_id: uuid.UUID
    socket_id: str

    @property
    def lease_member(self) -> str:
        return f"{self.room_id}|{self.user_id}|{self.socket_id}"


@dataclass(frozen=True)
class Timing:
    """Presence's clocks, in milliseconds: the reconnect grace, the coalescing window, a
    socket lease (renewed every `renew_ms`), and the sweep for other processes' leftovers."""

    grace_ms: int
    coalesce_ms: int
    lease_ms: int
    renew_ms: int
    sweep_ms: int = 1000


def now_ms() -> int:
    return int(time.time() * 1000)


def at(ms: int | float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def diff_message(room_id: str, changes: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """`participant_presence`: every user whose status changed in the window, and to what."""
    return {
        "type": "participant_presence",
        "room_id": room_id,
        "changes": [{"user_id": user, "status": status} for user, status in changes],
    }


async def _shown(database: Database, changes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`changes` without those of users who keep their presence to themselves."""
    if not changes:
        return changes
    async with database.unit_of_work() as session:
        hiding = await repository.members.hiding(session, [uuid.UUID(user) for user, _ in changes])
    return [(user, status) for user, status in changes if uuid.UUID(user) not in hiding]


class Presence:
    """This process's sockets in the shared presence, and its loop (started with its first
    socket, stopped by `close`)."""

    def __init__(
        self, redis: Redis, publisher: Publisher, timing: Timing, *, prefix: str = PREFIX
    ) -> None:
        self.timing = timing
        self._redis, self._publisher, self._prefix = redis, publisher, prefix
        self._scripts = {
            name: redis.register_script(body)
            for name, body in (
                ("connect", _CONNECT),
                ("status", _STATUS),
                ("disconnect", _DISCONNECT),
                ("expire", _EXPIRE),
                ("take", _TAKE_DUE),
            )
        }
        self._local: set[Socket] = set()
        self._loop: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    # Sockets

    async def arrive(self, database: Database, room_id: uuid.UUID, user_id: uuid.UUID) -> Socket:
        """Count a new socket of the user in the room (opening their presence span if they
        were not present)."""
        self._start(database)
        socket = Socket(room_id, user_id, uuid.uuid4().hex)
        now = now_ms()
        before = await self._run(
            "connect", socket, now + self.timing.lease_ms, now + self.timing.coalesce_ms
        )
        self._local.add(socket)
        self._wake_at(now + self.timing.coalesce_ms)
        if before is None:
            async with database.unit_of_work() as session:
                await service.arrived(session, room_id, user_id, at(now))
        return socket

    async def set_status(self, socket: Socket, status: Status) -> None:
        """The socket's own status (`online` or `away`); the user is online if one is."""
        now = now_ms()
        await self._run("status", socket, status.value, now + self.timing.coalesce_ms)
        self._wake_at(now + self.timing.coalesce_ms)

    async def leave(self, socket: Socket) -> None:
        """The socket closed; if it was the user's last, their grace starts."""
        self._local.discard(socket)
        now = now_ms()
        deadline = now + self.timing.grace_ms
        await self._run("disconnect", socket, now, deadline, now + self.timing.coalesce_ms)
        self._wake_at(now + self.timing.coalesce_ms)
        self._wake_at(deadline)

    async def statuses(self, room_id: uuid.UUID) -> dict[uuid.UUID, Status]:
        """The present users of the room (in their grace too) and their status."""
        found: dict[Any, Any] = await self._redis.hgetall(f"{self._prefix}{room_id}:users")
        return {uuid.UUID(user.decode()): Status(status.decode()) for user, status in found.items()}

    async def _run(self, script: str, socket: Socket, *args: int | str) -> Any:
        room, user = str(socket.room_id), str(socket.user_id)
        return await self._scripts[script]([], [self._prefix, room, user, socket.socket_id, *args])

    # The loop

    def _start(self, database: Database) -> None:
        if self._loop is None:
            self._loop = asyncio.create_task(self._run_loop(database), name="focus-presence")

    def _wake_at(self, due_ms: int) -> None:
        delay = max(0.0, (due_ms - now_ms()) / 1000) + 0.005
        asyncio.get_running_loop().call_later(delay, self._wake.set)

    async def close(self) -> None:
        """Stop the loop after its current round (cancelled if that takes too long)."""
        if self._loop is None:
            return
        self._stopping = True
        self._wake.set()
        _, pending = await asyncio.wait({self._loop}, timeout=_STOP_GRACE_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(self._loop, return_exceptions=True)
        self._loop = None

    async def _run_loop(self, database: Database) -> None:
        renewed = now_ms()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.timing.sweep_ms / 1000):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                if now_ms() - renewed >= self.timing.renew_ms:
                    renewed = now_ms()
                    await self._renew(renewed + self.timing.lease_ms)
                await self._end_graces(database)
                await self._publish_due(database)
            except (RedisError, OSError) as exc:
                logger.warning("presence loop: Redis failed: %r", exc)
            except Exception:  # one bad round must not end presence for the process
                logger.exception("presence loop round failed")

    async def _renew(self, lease_until: int) -> None:
        if self._local:
            leases = {socket.lease_member: lease_until for socket in self._local}
            await self._redis.zadd(f"{self._prefix}leases", leases, xx=True)

    async def _end_graces(self, database: Database) -> None:
        now, timing = now_ms(), self.timing
        args: list[str | int] = [self._prefix, now, timing.grace_ms, timing.lease_ms, _BATCH]
        gone = await self._scripts["expire"]([], [*args, now + timing.coalesce_ms])
        for room, user, dropped in gone:
            room_id, user_id = uuid.UUID(room.decode()), uuid.UUID(user.decode())
            async with database.unit_of_work() as session:
                await service.departed(session, room_id, user_id, at(int(dropped)))
        if gone:
            self._wake_at(now + timing.coalesce_ms)

    async def _publish_due(self, database: Database) -> None:
        taken = await self._scripts["take"]([], [self._prefix, now_ms(), _BATCH, _FLUSH_LOCK_MS])
        for room, flat in taken:
            room_id = room.decode()
            pairs = zip(flat[::2], flat[1::2], strict=True)
            changes = await _shown(database, [(u.decode(), s.decode()) for u, s in pairs])
            try:
                if changes:
                    channel = room_channel(uuid.UUID(room_id))
                    await self._publisher.publish_numbered(channel, diff_message(room_id, changes))
            finally:
                await self._redis.delete(f"{self._prefix}{room_id}:flushing")
