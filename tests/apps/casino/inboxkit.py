"""The inbox's test kit: sending notifications as another part would, and reading a live
stream (Server-Sent Events or WebSocket frames) with a deadline on every wait."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from ensemble.apps.casino.domain import NotificationCategory
from ensemble.apps.casino.notifications import service as notifications
from ensemble.kernel.db import Database

DEADLINE_S = 10.0


async def send(
    database: Database,
    user_id: uuid.UUID,
    count: int = 1,
    category: NotificationCategory = NotificationCategory.SYSTEM,
) -> list[int]:
    """`count` notifications to the member, each in a transaction of its own: their ids."""
    ids = []
    for index in range(count):
        async with database.unit_of_work() as session:
            sent = await notifications.notify(session, user_id, category, f"message {index}")
            ids.append(sent.id)
    return ids


@dataclass(frozen=True)
class Received:
    event: str
    data: dict[str, Any]
    id: int | None = None


class SseReader:
    """The events of an open SSE response, one at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self) -> Received:
        fields: dict[str, str] = {}
        async with asyncio.timeout(DEADLINE_S):
            async for line in self._lines:
                if not line:
                    if "event" in fields:
                        break
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value
            else:
                raise EOFError("the stream ended")
        raw_id = fields.get("id")
        position = int(raw_id) if raw_id else None
        return Received(fields["event"], json.loads(fields["data"]), position)

    async def notifications(self, count: int) -> list[Received]:
        """The next `count` notifications (heartbeats skipped)."""
        found: list[Received] = []
        while len(found) < count:
            event = await self.next()
            if event.event != "heartbeat":
                found.append(event)
        return found


@asynccontextmanager
async def sse(
    client: httpx.AsyncClient,
    url: str,
    token: str,
    last_event_id: int | None = None,
    *,
    token_in_query: bool = False,
) -> AsyncIterator[SseReader]:
    """The stream at `url`, the token in the `Authorization` header (or, as a browser's
    `EventSource` sends it, in the query)."""
    headers = {} if token_in_query else {"Authorization": f"Bearer {token}"}
    params = {"token": token} if token_in_query else {}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    async with client.stream(
        "GET", url, headers=headers, params=params, timeout=DEADLINE_S
    ) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SseReader(response)


async def socket_frames(socket: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next `count` frames that are not heartbeats."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(DEADLINE_S):
        while len(found) < count:
            frame = json.loads(await socket.recv())
            if frame["type"] != "heartbeat":
                found.append(frame)
    return found
