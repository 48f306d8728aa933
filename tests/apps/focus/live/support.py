"""What the live tests share: rooms and members written directly, Focus Mate served by a real
uvicorn, and a room socket client that answers the hub's pings and queues the rest."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ensemble.apps import load_app
from ensemble.apps.focus.models import PresenceSpan, Room
from ensemble.apps.focus.settings import FocusSettings
from ensemble.kernel.db import Database
from ensemble.server import create_app
from ensemble.settings import Settings
from tests.apps.focus.conftest import FocusUser
from tests.apps.focus.rows import add_room
from tests.serving import uvicorn_serving

DEADLINE_S = 15.0
Frame = dict[str, Any]


# Rows


async def room_with(
    database: Database,
    owner: FocusUser,
    members: Iterable[FocusUser] = (),
    *,
    banned: Iterable[FocusUser] = (),
) -> uuid.UUID:
    """A public room of `owner` with an idle timer, `members` in it and `banned` banned."""
    ids = [member.user_id for member in members]
    return await add_room(
        database, owner.user_id, ids, banned_ids=[user.user_id for user in banned]
    )


async def spans_of(
    database: Database, room_id: uuid.UUID, user_id: uuid.UUID
) -> list[PresenceSpan]:
    async with database.unit_of_work() as session:
        query = (
            select(PresenceSpan)
            .where(PresenceSpan.room_id == room_id, PresenceSpan.user_id == user_id)
            .order_by(PresenceSpan.started_at)
        )
        return list((await session.scalars(query)).all())


async def room_row(database: Database, room_id: uuid.UUID) -> Room:
    async with database.unit_of_work() as session:
        room = await session.get(Room, room_id)
        assert room is not None
        return room


# Servers


@contextlib.asynccontextmanager
async def focus_served(settings: Settings, database: Database, **focus: Any) -> AsyncIterator[str]:
    """Focus Mate alone on a real uvicorn in this test's loop, with `FOCUS_*` settings
    `focus`; yields its `ws://` base URL."""
    app = create_app(
        [load_app("focus")],
        settings.model_copy(update={"realtime_auth_timeout_seconds": 2}),  # no-token sockets
        database=database,
        alone=True,
        app_settings={"focus": FocusSettings(**focus)},
    )
    async with uvicorn_serving(app) as base_url:
        yield "ws" + base_url.removeprefix("http")


def room_url(
    ws_base: str, room_id: uuid.UUID | str, token: str | None, *, seed_path: bool = False
) -> str:
    path = f"/api/v1/ws/{room_id}" if seed_path else f"/api/v1/ws/rooms/{room_id}"
    query = f"?{urlencode({'token': token})}" if token is not None else ""
    return f"{ws_base}{path}{query}"


# Clients


@dataclass
class LiveClient:
    """A room socket: pings answered at once, every other frame queued for `next`."""

    connection: ClientConnection
    state: Frame = field(default_factory=dict)
    numbered: list[Frame] = field(default_factory=list)
    """Every numbered room message received, read by `next` or not."""
    received_at: list[float] = field(default_factory=list)
    """When each of `numbered` came (monotonic)."""
    _inbox: asyncio.Queue[Frame | None] = field(default_factory=asyncio.Queue)
    _reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                frame: Frame = json.loads(raw)
                if frame.get("type") == "ping":
                    await self.connection.send(json.dumps({"type": "pong"}))
                else:
                    if "seq" in frame and frame.get("type") != "room_state":
                        self.numbered.append(frame)
                        self.received_at.append(time.monotonic())
                    self._inbox.put_nowait(frame)
        except ConnectionClosed:
            pass
        finally:
            self._inbox.put_nowait(None)

    async def next(self) -> Frame:
        async with asyncio.timeout(DEADLINE_S):
            frame = await self._inbox.get()
        assert frame is not None, f"the socket closed: {self.close_frame()}"
        return frame

    async def next_of(self, wanted: Callable[[Frame], bool]) -> Frame:
        """The next frame `wanted` picks, skipping the others."""
        while not wanted(frame := await self.next()):
            pass
        return frame

    async def send(self, **frame: Any) -> None:
        await self.connection.send(json.dumps(frame))

    async def ended(self) -> tuple[int, str] | None:
        """Read until the connection ends: the server's close code and reason (None: it
        ended without a close frame)."""
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), DEADLINE_S)
        return self.close_frame()

    async def closed(self) -> tuple[int, str]:
        """Read until the server closes: its close code and reason."""
        frame = await self.ended()
        assert frame is not None, "closed without a close frame"
        return frame

    def close_frame(self) -> tuple[int, str] | None:
        received = self.connection.protocol.close_rcvd
        return (received.code, received.reason) if received else None

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


@contextlib.asynccontextmanager
async def live(url: str) -> AsyncIterator[LiveClient]:
    """A room socket whose first frame (`room_state`) was read into `state`."""
    async with connect(url, open_timeout=DEADLINE_S) as connection:
        client = LiveClient(connection)
        client.start()
        try:
            client.state = await client.next()
            assert client.state["type"] == "room_state", client.state
            yield client
        finally:
            await client.stop()


async def refused(url: str) -> tuple[int, str]:
    """The close code and reason of a socket the server turns away."""
    async with connect(url, open_timeout=DEADLINE_S) as connection:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(connection.recv(), DEADLINE_S)
    frame = closed.value.rcvd
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


def is_type(kind: str) -> Callable[[Frame], bool]:
    return lambda frame: frame.get("type") == kind


def changes(frame: Frame) -> dict[str, str]:
    """A `participant_presence` frame's changes, by user id."""
    return {change["user_id"]: change["status"] for change in frame["changes"]}
