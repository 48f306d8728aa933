"""The user's socket (`/ws/me`) on a real uvicorn server, with real WebSocket clients: a DM
reaches both users on every tab they have open, with the recipient's notification, once the
jobs requested by the send have run; a socket whose first message is not `auth` is refused
with 4401.
Nothing is waited for with a sleep: every wait is for a frame, bounded by a deadline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ensemble.apps.focus import app as focus_app
from ensemble.kernel.realtime import CLOSE_UNAUTHENTICATED
from ensemble.server import create_app
from tests.apps.focus.conftest import API, FocusUser, FocusWorld
from tests.apps.focus.messaging import open_conversation, sent
from tests.apps.focus.roomkit import background
from tests.serving import uvicorn_serving

DEADLINE_S = 10.0
Frame = dict[str, Any]


@pytest.fixture
async def ws_url(focus: FocusWorld) -> AsyncIterator[str]:
    """Focus Mate served alone by a real uvicorn (its own hub) on the test's database; a
    socket has a second to authenticate."""
    settings = focus.settings.model_copy(update={"realtime_auth_timeout_seconds": 1.0})
    app = create_app([focus_app], settings, database=focus.database, alone=True)
    async with uvicorn_serving(app) as base_url:
        yield "ws" + base_url.removeprefix("http") + f"{API}/ws/me"


async def receive(socket: ClientConnection, wanted: Callable[[Frame], bool]) -> Frame:
    """The next frame `wanted` picks, skipping the others (the hub's pings)."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            frame: Frame = json.loads(await socket.recv())
            if wanted(frame):
                return frame


def of_type(kind: str) -> Callable[[Frame], bool]:
    return lambda frame: frame["type"] == kind


@asynccontextmanager
async def listening(url: str, user: FocusUser) -> AsyncIterator[ClientConnection]:
    """A socket of `user`, once subscribed (its `ready` frame came)."""
    async with connect(f"{url}?{urlencode({'token': user.access_token})}") as socket:
        ready = await receive(socket, of_type("ready"))
        assert ready["user_id"] == str(user.user_id)
        yield socket


async def test_a_dm_reaches_both_users_on_every_tab(
    focus: FocusWorld, ws_url: str, redis: Redis
) -> None:
    alice, bob = await focus.user(), await focus.user()
    conversation = await open_conversation(focus, alice, bob)
    async with AsyncExitStack() as tabs:
        alices = await tabs.enter_async_context(listening(ws_url, alice))
        bobs = [await tabs.enter_async_context(listening(ws_url, bob)) for _ in range(2)]
        message = await sent(focus, alice, conversation, "<b>focus?</b>")
        assert await background(focus, redis).settle() > 0  # the jobs the send requested

        for socket in (alices, *bobs):
            dm = await receive(socket, of_type("dm"))
            assert dm == {"type": "dm", **message}
        for socket in bobs:
            notification = await receive(socket, of_type("notification"))
            assert notification["kind"] == "message"
            assert notification["data"]["message_id"] == message["message_id"]
            assert notification["body"] == "<b>focus?</b>"

        async with connect(f"{ws_url}?{urlencode({'token': bob.access_token})}") as socket:
            ready = await receive(socket, of_type("ready"))  # a new tab: its unread count
            assert ready["unread_notifications"] == 1


async def refusal(url: str, first: Frame | None = None) -> tuple[int, str]:
    """The close code and reason of a socket the server refuses (after `first`, if given)."""
    async with connect(url) as socket:
        if first is not None:
            await socket.send(json.dumps(first))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), DEADLINE_S)
    frame = closed.value.rcvd
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


async def test_a_first_message_that_is_no_auth_is_refused(ws_url: str) -> None:
    """(Every kind of bad token: `test_auth_matrix.py`.)"""
    chatty = await refusal(ws_url, {"type": "hello"})
    assert chatty == (CLOSE_UNAUTHENTICATED, "not_authenticated")
