"""A member's live stream, shared by the SSE route and the WebSocket: subscribe first, then
read the backlog (or send one `resync` when it is gone), then live messages deduplicated by
id, with heartbeats, until the stream's deadline.

Ids are gap-free and a message is published only after its transaction commits, and a
member's next id is taken only once the previous sender's transaction ended: so a live id
past the next expected one means the ones between are committed (their publication is late
or lost) and are read from the inbox. Nothing is missed, nothing is sent twice, in order.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ensemble.apps.casino.notifications import service
from ensemble.apps.casino.notifications.domain import (
    HEARTBEAT,
    EndReason,
    Event,
    Frame,
    delivered,
    notification,
    ready,
    resync,
)
from ensemble.apps.casino.notifications.live import SETTINGS, Inbox, Relay
from ensemble.kernel.db import Database


@dataclass(frozen=True)
class Deadline:
    """When a stream ends (a monotonic instant) and why."""

    at: float
    reason: EndReason

    @classmethod
    def earliest(cls, *deadlines: Deadline | None) -> Deadline:
        return min((d for d in deadlines if d is not None), key=lambda d: d.at)

    @classmethod
    def token_expiry(cls, expires_at: float | None) -> Deadline | None:
        """The expiry of a token (epoch seconds) as a monotonic deadline."""
        if expires_at is None:
            return None
        return cls(time.monotonic() + expires_at - time.time(), EndReason.TOKEN_EXPIRED)


class _Position:
    """Where the client is: the last id sent (or skipped as muted), and the live mutes."""

    def __init__(self, sent: int, muted: frozenset[str]) -> None:
        self.sent, self.muted = sent, muted

    def take(self, messages: list[dict[str, Any]]) -> list[Frame]:
        """The frames of `messages` (in id order, from `sent + 1`), muted ones skipped."""
        frames = []
        for message in messages:
            if message["id"] == self.sent + 1:
                self.sent = message["id"]
                if delivered(message["category"], self.muted):
                    frames.append(notification(message))
        return frames


@dataclass
class Stream:
    """One member's stream: `frames()` yields until the deadline or a revoked session (an
    `end` frame says which)."""

    relay: Relay
    database: Database
    user_id: uuid.UUID
    after: int | None
    heartbeat: float
    deadline: Deadline
    session_id: str | None = None
    clock: Callable[[], float] = time.monotonic

    async def frames(self) -> AsyncIterator[Frame]:
        async with self.relay.listen(self.user_id, self.session_id) as inbox:
            async with self.database.sessionmaker() as session:
                muted = (await service.mutes(session, self.user_id)).live
                position = _Position(0, muted)
                if self.after is None:
                    position.sent = await service.last_id_of(session, self.user_id)
                    yield ready(position.sent)
                else:
                    async for frame in self._resume(session, position, self.after, first=True):
                        yield frame
            async for frame in self._live(inbox, position):
                yield frame

    async def _resume(
        self, session: Any, position: _Position, after: int, *, first: bool
    ) -> AsyncIterator[Frame]:
        """Replay what came after `after` from the inbox, or send a `resync`."""
        backlog = await service.backlog(session, self.user_id, after)
        if backlog.messages is None:
            position.sent = backlog.last_id
            yield resync(backlog.last_id)
            return
        if first:
            yield ready(after)
        position.sent = after
        for frame in position.take(backlog.messages):
            yield frame

    async def _catch_up(self, position: _Position) -> AsyncIterator[Frame]:
        async with self.database.sessionmaker() as session:
            async for frame in self._resume(session, position, position.sent, first=False):
                yield frame

    async def _live(self, inbox: Inbox, position: _Position) -> AsyncIterator[Frame]:
        while True:
            remaining = self.deadline.at - self.clock()
            if remaining <= 0:
                yield Frame(Event.END, {"reason": self.deadline.reason.value})
                return
            if not await inbox.wait(min(self.heartbeat, remaining)):
                if self.deadline.at - self.clock() > 0:
                    yield HEARTBEAT
                continue
            if inbox.revoked:
                yield Frame(Event.END, {"reason": EndReason.SESSION_REVOKED.value})
                return
            behind, messages = inbox.take()
            gap = behind
            for message in messages:
                if message.get("type") == SETTINGS:
                    position.muted = frozenset(message["muted_live"])
                elif message["id"] > position.sent + 1:
                    gap = True
                elif not gap:
                    for frame in position.take([message]):
                        yield frame
            if gap:
                async for frame in self._catch_up(position):
                    yield frame
