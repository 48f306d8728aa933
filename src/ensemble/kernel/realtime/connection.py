"""One joined WebSocket: a bounded outbox drained by a single writer task.

Fan-out only appends to outboxes (never awaits a socket), so one slow client cannot delay
the others; a socket whose outbox overflows, or whose send does not finish within
`send_timeout`, is dropped. Every write to the socket goes through the writer, in order.
A socket holds a `Lease` from its token: it is closed with 4401 when the token expires
(`token_expired`) or its session is revoked (`session_revoked`, by the hub).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pydantic_core
from starlette.websockets import WebSocket, WebSocketState

from ensemble.kernel.realtime.auth import CLOSE_UNAUTHENTICATED
from ensemble.kernel.realtime.metrics import DROPPED, FANNED_OUT

logger = logging.getLogger(__name__)

PING = '{"type":"ping"}'
_CLIENT_PONG = "pong"


@dataclass(frozen=True)
class Lease:
    """How long a socket may stay: until its token's expiry (`exp`, epoch seconds) and while
    its session (`sid`) is not revoked; None for either: no such limit."""

    expires_at: float | None = None
    session_id: str | None = None

    @classmethod
    def of_claims(cls, claims: Mapping[str, Any]) -> Lease:
        """The lease of a verified token's claims (`exp`, and `sid` when it names one)."""
        expires, session = claims.get("exp"), claims.get("sid")
        return cls(
            float(expires) if isinstance(expires, int | float) else None,
            str(session) if session else None,
        )


@dataclass(frozen=True)
class Encoded:
    """A payload already encoded (`encode`), sent as it is: one frame for many sockets is
    encoded once."""

    text: str


def encode(payload: Any) -> str:
    """Compact JSON (UUIDs, datetimes and decimals included) as text for a WebSocket frame."""
    if isinstance(payload, Encoded):
        return payload.text
    return pydantic_core.to_json(payload).decode()


class Connection:
    """A socket on a channel. The app reads with `messages()` and writes with `send()`."""

    def __init__(
        self,
        websocket: WebSocket,
        channel: str,
        member_id: str,
        *,
        max_pending: int,
        send_timeout: float,
        on_closed: Callable[[Connection], Awaitable[None]],
        lease: Lease | None = None,
    ) -> None:
        self.websocket = websocket
        self.channel = channel
        self.member_id = member_id
        self.lease = lease or Lease()
        self.last_seen = time.monotonic()
        self._max_pending = max_pending
        self._send_timeout = send_timeout
        self._on_closed = on_closed
        self._outbox: deque[str] = deque()
        self._wakeup = asyncio.Event()
        self._close: tuple[int, str] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.member_id} on {self.channel}>"

    @property
    def closing(self) -> bool:
        return self._close is not None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run(), name=f"realtime-writer:{self.channel}")
        if self.lease.expires_at is not None:
            self._expiry = asyncio.get_running_loop().call_later(
                max(0.0, self.lease.expires_at - time.time()),
                self.drop,
                CLOSE_UNAUTHENTICATED,
                "token_expired",
            )

    def offer(self, text: str) -> bool:
        """Queue a frame; False when the outbox is full (the caller drops the socket)."""
        if self._close is not None:
            return True
        if len(self._outbox) >= self._max_pending:
            return False
        self._outbox.append(text)
        self._wakeup.set()
        return True

    def send(self, payload: Any) -> bool:
        """Queue `payload` (JSON) for this socket only; False if its outbox is full."""
        return self.offer(encode(payload))

    def send_first(self, payload: Any) -> None:
        """Queue `payload` ahead of every frame queued so far (a greeting, before `start`)."""
        if self._close is None:
            self._outbox.appendleft(encode(payload))
            self._wakeup.set()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close soon: pending frames are discarded and the writer sends the close frame."""
        if self._close is None:
            self._close = (code, reason)
            self._outbox.clear()
            self._wakeup.set()

    def drop(self, code: int, reason: str) -> None:
        """Close a socket the hub gave up on (counted by `reason`)."""
        if self._close is None:
            DROPPED.labels(reason).inc()
            logger.info("dropping %r: %s", self, reason)
            self.close(code, reason)

    async def wait_closed(self, grace: float) -> None:
        """Wait for the writer to finish (cancelling it after `grace` seconds)."""
        if self._writer is None:
            return
        done, _ = await asyncio.wait({self._writer}, timeout=grace)
        if not done:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """The client's JSON objects until it disconnects (answers to pings are consumed)."""
        while self.websocket.client_state == WebSocketState.CONNECTED:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            self.last_seen = time.monotonic()
            data = _parse(message)
            if data is None:
                self.send({"type": "error", "code": "invalid_message"})
            elif data.get("type") != _CLIENT_PONG:
                yield data

    async def _run(self) -> None:
        try:
            await self._write_all()
        except Exception as exc:  # the peer is gone or stuck: stop writing to it
            logger.debug("writer of %r stopped: %r", self, exc)
            self._close = self._close or (1011, "send failed")
        if self._expiry is not None:
            self._expiry.cancel()
        await self._on_closed(self)

    async def _write_all(self) -> None:
        while True:
            if self._close is not None:
                await self._send_close(*self._close)
                return
            if not self._outbox:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            text = self._outbox.popleft()
            async with asyncio.timeout(self._send_timeout):
                await self.websocket.send_text(text)
            FANNED_OUT.inc()

    async def _send_close(self, code: int, reason: str) -> None:
        if WebSocketState.DISCONNECTED in (
            self.websocket.client_state,
            self.websocket.application_state,
        ):
            return
        with contextlib.suppress(Exception):  # already gone: nothing to tell it
            async with asyncio.timeout(self._send_timeout):
                await self.websocket.close(code=code, reason=reason)


def _parse(message: Mapping[str, Any]) -> dict[str, Any] | None:
    text = message.get("text")
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
