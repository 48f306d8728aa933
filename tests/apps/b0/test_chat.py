"""Room chat over real WebSockets against two real `ensemble serve --app b0` processes.

Both servers share the test database and Redis, so a message sent to one reaches the
guests connected to the other (through the hub's Redis pub/sub) and is in the history. Nothing
is waited for with a sleep: every wait is for a frame, bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ensemble.apps import load_app
from ensemble.apps.b0.events import room_event
from ensemble.kernel.db import Database, new_id
from tests.apicheck import Server, serve
from tests.apps.b0.conftest import B0World, Traveller, expired_token
from tests.apps.b0.helpers import check_in, forged_token
from tests.outboxes import Outboxes

DEADLINE_S = 10.0
Frame = dict[str, Any]


@pytest.fixture(scope="module")
def servers(
    database_url: str, redis_url: str, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    with ExitStack() as stack:
        first, second = (
            stack.enter_context(serve("b0", database_url, redis_url, tmp_path_factory.mktemp(n)))
            for n in ("b0-chat-a", "b0-chat-b")
        )
        yield first, second


@dataclass(frozen=True)
class Room:
    room_id: uuid.UUID
    alice: Traveller
    bob: Traveller


@pytest.fixture
async def room(b0: B0World) -> Room:
    """Alice and Bob flew to the same city and share a room."""
    city, airship = await b0.city(), await b0.airship()
    alice, bob = await b0.traveller(), await b0.traveller()
    alices, bobs = await check_in(b0, alice, city, airship), await check_in(b0, bob, city, airship)
    assert alices.room_id == bobs.room_id
    return Room(alices.room_id, alice, bob)


def room_url(server: Server, room_id: uuid.UUID, token: str | None) -> str:
    query = f"?{urlencode({'token': token})}" if token is not None else ""
    return f"{server.ws_url}/api/v1/ws/rooms/{room_id}{query}"


async def receive(socket: ClientConnection, wanted: Callable[[Frame], bool]) -> Frame:
    """The next frame `wanted` picks, skipping the others (pings, other notices)."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            frame: Frame = json.loads(await socket.recv())
            if wanted(frame):
                return frame


def notice(event: str, who: Traveller) -> Callable[[Frame], bool]:
    """A presence notice: `who` joined or left."""
    return lambda frame: frame["type"] == event and frame["user_id"] == str(who.user_id)


def is_message(frame: Frame) -> bool:
    return bool(frame["type"] == "message")


def is_error(frame: Frame) -> bool:
    return bool(frame["type"] == "error")


async def say(socket: ClientConnection, content: Any) -> None:
    await socket.send(json.dumps({"content": content}))


@asynccontextmanager
async def joined(
    server: Server, room_id: uuid.UUID, who: Traveller
) -> AsyncIterator[ClientConnection]:
    """A guest's socket, once the server has subscribed it (its own join notice came back)."""
    async with connect(room_url(server, room_id, who.token)) as socket:
        await receive(socket, notice("joined", who))
        yield socket


async def refusal(socket: ClientConnection) -> tuple[int, str]:
    """The close code and reason of a socket the server closes without a word."""
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), DEADLINE_S)
    frame = closed.value.rcvd
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


async def refused(url: str) -> tuple[int, str]:
    async with connect(url) as socket:
        return await refusal(socket)


async def history(world: B0World, room: Room) -> list[Frame]:
    response = await world.client.get(
        f"/api/v1/rooms/{room.room_id}/messages", headers=room.alice.headers
    )
    assert response.status_code == 200, response.text
    items: list[Frame] = response.json()["items"]
    return [m for m in items if m["message_type"] == "USER"]


def said(frame: Frame) -> tuple[str, str, str]:
    return frame["content"], frame["user_id"], frame["room_id"]


async def test_guests_on_two_servers_see_each_other(
    b0: B0World, room: Room, servers: tuple[Server, Server]
) -> None:
    one, two = servers
    alice_id, bob_id, room_id = str(room.alice.user_id), str(room.bob.user_id), str(room.room_id)
    async with joined(one, room.room_id, room.alice) as alice:
        async with joined(two, room.room_id, room.bob) as bob:
            arrival = await receive(alice, notice("joined", room.bob))
            assert arrival == {"type": "joined", "room_id": room_id, "user_id": bob_id}

            await say(alice, "Hello from server one")
            heard = await receive(bob, is_message)
            assert said(heard) == ("Hello from server one", alice_id, room_id)
            assert heard["message_type"] == "USER"
            assert await receive(alice, is_message) == heard  # the sender gets it too

            await say(bob, "And from two")
            answer = await receive(alice, is_message)
            assert said(answer) == ("And from two", bob_id, room_id)
        await receive(alice, notice("left", room.bob))

    assert [(m["chat_message_id"], m["content"]) for m in await history(b0, room)] == [
        (answer["chat_message_id"], "And from two"),
        (heard["chat_message_id"], "Hello from server one"),
    ]


INVALID = {
    "too long": json.dumps({"content": "x" * 301}),
    "empty": json.dumps({"content": ""}),
    "not text": json.dumps({"content": 42}),
    "no content": json.dumps({"text": "hi"}),
    "not an object": json.dumps(["hi"]),
    "not JSON": "hi",
    "NUL": json.dumps({"content": "a\u0000b"}),
}


async def test_invalid_messages_are_answered_with_an_error_and_not_kept(
    b0: B0World, room: Room, servers: tuple[Server, Server]
) -> None:
    one, two = servers
    async with (
        joined(one, room.room_id, room.alice) as alice,
        joined(two, room.room_id, room.bob) as bob,
    ):
        for label, frame in INVALID.items():
            await alice.send(frame)
            error = await receive(alice, is_error)
            assert error == {"type": "error", "code": "invalid_message"}, label
        await say(alice, "y" * 300)  # the longest message there may be
        kept = await receive(bob, is_message)  # nothing invalid came before it
        assert kept["content"] == "y" * 300
    assert [m["content"] for m in await history(b0, room)] == ["y" * 300]


async def no_token(world: B0World, room: Room) -> None:
    return None


async def forged(world: B0World, room: Room) -> str:
    return forged_token()


async def old_token(world: B0World, room: Room) -> str:
    return expired_token(world)


async def unregistered(world: B0World, room: Room) -> str:
    return world.token()


async def registered_non_member(world: B0World, room: Room) -> str:
    return (await world.traveller()).token


async def guest(world: B0World, room: Room) -> str:
    return room.alice.token


Caller = Callable[[B0World, Room], Awaitable[str | None]]


@pytest.mark.parametrize(
    ("caller", "other_room", "closed"),
    [
        (no_token, False, (4401, "not_authenticated")),
        (forged, False, (4401, "invalid_token")),
        (old_token, False, (4401, "token_expired")),
        (unregistered, False, (4403, "not_a_member")),
        (registered_non_member, False, (4403, "not_a_member")),
        (guest, True, (4403, "not_a_member")),
    ],
    ids=["no token", "forged", "expired", "unregistered", "non-member", "guest elsewhere"],
)
async def test_outsiders_are_refused(
    b0: B0World,
    room: Room,
    servers: tuple[Server, Server],
    caller: Caller,
    other_room: bool,
    closed: tuple[int, str],
) -> None:
    token = await caller(b0, room)
    room_id = new_id() if other_room else room.room_id
    for server in servers:
        assert await refused(room_url(server, room_id, token)) == closed


async def test_a_guest_who_checked_out_is_refused(
    b0: B0World, room: Room, servers: tuple[Server, Server]
) -> None:
    one, two = servers
    async with joined(one, room.room_id, room.alice) as alice:
        async with joined(two, room.room_id, room.bob) as bob:
            left = await b0.client.post(
                "/api/v1/room-stays/current/check-out", headers=room.bob.headers
            )
            assert left.status_code == 200, left.text
            await say(bob, "Still here?")  # the open socket learns it on its next message
            assert await refusal(bob) == (4403, "not_a_member")
        await receive(alice, notice("left", room.bob))
        assert await refused(room_url(two, room.room_id, room.bob.token)) == (4403, "not_a_member")
        await say(alice, "Alone now")
        assert (await receive(alice, is_message))["content"] == "Alone now"
    assert [m["content"] for m in await history(b0, room)] == ["Alone now"]


async def _deliver_room_events(world: B0World, redis: Redis) -> int:
    """Do what the relay and a worker do with the room events committed so far."""
    background = Outboxes(world.settings, world.database, redis, [load_app("b0")])
    return await background.run_jobs(room_event)


async def _closed_after_frames(socket: ClientConnection) -> tuple[int, str]:
    """Read whatever is still on its way, then the close: its code and reason."""

    async def read_to_the_end() -> None:
        while True:
            await socket.recv()

    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(read_to_the_end(), DEADLINE_S)
    frame = closed.value.rcvd
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


async def test_checking_out_closes_the_open_socket_and_tells_the_room(
    b0: B0World, room: Room, servers: tuple[Server, Server], redis: Redis
) -> None:
    one, two = servers
    await _deliver_room_events(b0, redis)  # the check-in notices of the fixture
    async with joined(one, room.room_id, room.alice) as alice:
        async with joined(two, room.room_id, room.bob) as bob:
            left = await b0.client.post(
                "/api/v1/room-stays/current/check-out", headers=room.bob.headers
            )
            assert left.status_code == 200, left.text
            assert await _deliver_room_events(b0, redis) == 2
            assert await _closed_after_frames(bob) == (4403, "checked_out")
        line = await receive(alice, lambda f: f["type"] == "message")
        assert (line["message_type"], line["content"]) == ("SYSTEM", "A traveller checked out.")


async def test_a_guest_socket_closes_when_the_providers_token_expires(
    b0: B0World, room: Room, servers: tuple[Server, Server]
) -> None:
    """B0 holds no sessions of its own (the provider does): its sockets end with the token."""
    alice = replace(room.alice, token=b0.token(room.alice.sub, ttl=timedelta(seconds=3)))
    async with joined(servers[0], room.room_id, alice) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(socket, lambda frame: False)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "token_expired")
