"""The WebSocket hub across two real uvicorn servers sharing the session's real Redis.

Each server runs in its own thread with its own event loop and its own `Hub`, exactly as two
processes would (one pub/sub connection each); clients are real WebSocket clients
(`websockets`). Nothing is waited for with a sleep: tests poll with a deadline, or wait for a
message that can only arrive after the one they check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, WebSocket
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from starlette.websockets import WebSocketState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from ensemble.kernel.errors import Unauthorized
from ensemble.kernel.identity.revocation import Revocations
from ensemble.kernel.realtime import (
    BEARER_SUBPROTOCOL,
    CLOSE_FORBIDDEN,
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_UNAUTHENTICATED,
    Hub,
    Lease,
    authenticate,
    refuse,
)

TOKEN = "realtime-test-token"
PREFIX = "test:realtime:"
DEADLINE_S = 10.0
AUTH_TIMEOUT_S = 1.0


def leased_token(*, expires_at: float | None = None, session_id: str | None = None) -> str:
    """A good token whose lease ends at `expires_at` or with the session `session_id`."""
    return json.dumps({"token": TOKEN, "exp": expires_at, "sid": session_id})


def lease_of(token: str) -> Lease | None:
    """The lease a good token grants (None: not a good token)."""
    if token == TOKEN:
        return Lease()
    with contextlib.suppress(ValueError):
        claims = json.loads(token)
        if isinstance(claims, dict) and claims.get("token") == TOKEN:
            return Lease.of_claims(claims)
    return None


# The tiny app: token check, membership rule, one channel socket that echoes through the hub


@dataclass
class ChannelApp:
    hub: Hub
    states_at_verification: list[WebSocketState] = field(default_factory=list)


def channel_router(state: ChannelApp) -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws/channels/{channel}")
    async def channel_socket(websocket: WebSocket, channel: str) -> None:
        async def check_token(token: str) -> Lease:
            state.states_at_verification.append(websocket.application_state)
            lease = lease_of(token)
            if lease is None:
                raise Unauthorized("bad token", code="invalid_token")
            return lease

        lease = await authenticate(websocket, check_token, auth_timeout=AUTH_TIMEOUT_S)
        if lease is None:
            return
        if channel.startswith("private-"):
            await refuse(websocket, CLOSE_FORBIDDEN, "not_a_member")
            return
        member = websocket.query_params.get("member", "anonymous")
        async with state.hub.connection(channel, websocket, member, lease) as connection:
            connection.send({"type": "joined", "channel": channel, "member": member})
            async for message in connection.messages():
                said = {"type": "said", "from": member, "body": message.get("body")}
                await state.hub.publish(channel, said)

    return router


def build_app(state: ChannelApp) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with state.hub:
            yield

    app = FastAPI(lifespan=lifespan)
    app.include_router(channel_router(state))
    return app


# Servers


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Poll (from sync code) until `predicate()` holds, failing after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


async def eventually(predicate: Callable[[], Any], what: str) -> None:
    """Poll (from async code) until `predicate()` is true, failing after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not await _holds(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _holds(predicate: Callable[[], Any]) -> bool:
    value = predicate()
    if asyncio.iscoroutine(value):
        value = await value
    return bool(value)


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Served:
    state: ChannelApp
    server: uvicorn.Server
    port: int

    @property
    def hub(self) -> Hub:
        return self.state.hub

    def url(self, channel: str, *, member: str = "someone", token: str | None = TOKEN) -> str:
        query = {"member": member} | ({"token": token} if token is not None else {})
        return f"ws://127.0.0.1:{self.port}/ws/channels/{channel}?{urlencode(query)}"


def uvicorn_server(state: ChannelApp) -> uvicorn.Server:
    # log_config=None: uvicorn's default config would give its loggers their own handlers
    # (no propagation) for the rest of the test session
    config = uvicorn.Config(build_app(state), lifespan="on", log_config=None)
    return uvicorn.Server(config)


@contextlib.contextmanager
def served_in_thread(hub: Hub) -> Iterator[Served]:
    """A uvicorn server for the app on its own thread and event loop, like another process."""
    state = ChannelApp(hub)
    server = uvicorn_server(state)
    sock = bound_socket()
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{hub.name}", daemon=True
    )
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "the server to start")
        assert server.started, "the server thread died while starting"
        yield Served(state, server, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=DEADLINE_S)
        sock.close()


@pytest.fixture(scope="module")
def servers(redis_url: str) -> Iterator[tuple[Served, Served]]:
    with (
        served_in_thread(Hub(redis_url, prefix=PREFIX)) as one,
        served_in_thread(Hub(redis_url, prefix=PREFIX)) as two,
    ):
        yield one, two


# Clients


class Client:
    """A WebSocket client that answers the hub's pings at once (from its own reader task)
    and queues everything else for `next()`."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.pings = 0
        self._inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.connection:
                message: dict[str, Any] = json.loads(frame)
                if message.get("type") == "ping":
                    self.pings += 1
                    await self.connection.send(json.dumps({"type": "pong"}))
                else:
                    self._inbox.put_nowait(message)
        except ConnectionClosed:
            pass
        finally:
            self._inbox.put_nowait(None)

    async def next(self) -> dict[str, Any]:
        async with asyncio.timeout(DEADLINE_S):
            message = await self._inbox.get()
        assert message is not None, "the connection closed"
        return message

    async def say(self, body: str) -> None:
        await self.connection.send(json.dumps({"body": body}))

    async def closed(self) -> tuple[int, str]:
        """Wait for the server to close; the close code and reason it sent."""
        await asyncio.wait_for(asyncio.shield(self._reader), DEADLINE_S)
        return close_frame(self.connection)

    async def stop(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@asynccontextmanager
async def member(
    url: str,
    *,
    subprotocols: Sequence[str] = (),
    first: dict[str, Any] | None = None,
    **headers: str,
) -> AsyncIterator[Client]:
    """A client connected and joined (its `joined` message read), offering `subprotocols`
    and sending `first` as its first message."""
    async with connect(
        url,
        additional_headers=headers,
        subprotocols=[Subprotocol(offered) for offered in subprotocols] or None,
        open_timeout=DEADLINE_S,
    ) as connection:
        if first is not None:
            await connection.send(json.dumps(first))
        client = Client(connection)
        try:
            joined = await client.next()
            assert joined["type"] == "joined", joined
            yield client
        finally:
            await client.stop()


def close_frame(connection: ClientConnection) -> tuple[int, str]:
    received = connection.protocol.close_rcvd
    assert received is not None, "the server sent no close frame"
    return received.code, received.reason


async def close_code(connection: ClientConnection) -> tuple[int, str]:
    """Read until the server closes; the close code and reason it sent."""
    async with asyncio.timeout(DEADLINE_S):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await connection.recv()
    return close_frame(connection)


def said(by: str, body: str) -> dict[str, Any]:
    return {"type": "said", "from": by, "body": body}


# Fan-out across servers


async def test_members_on_two_servers_receive_each_others_messages(
    servers: tuple[Served, Served],
) -> None:
    one, two = servers
    async with (
        member(one.url("lobby", member="alice")) as alice,
        member(two.url("lobby", member="bob")) as bob,
    ):
        assert (one.hub.local_count("lobby"), two.hub.local_count("lobby")) == (1, 1)
        await alice.say("hello from one")
        assert await alice.next() == said("alice", "hello from one")
        assert await bob.next() == said("alice", "hello from one")
        await bob.say("hello from two")
        assert await bob.next() == said("bob", "hello from two")
        assert await alice.next() == said("bob", "hello from two")


async def test_messages_keep_their_order_for_every_member(servers: tuple[Served, Served]) -> None:
    one, two = servers
    async with (
        member(one.url("ordered", member="alice")) as alice,
        member(two.url("ordered", member="bob")) as bob,
        member(two.url("ordered", member="carol")) as carol,
    ):
        bodies = [f"message {i}" for i in range(30)]
        for body in bodies:
            await alice.say(body)
        for client in (alice, bob, carol):
            assert [(await client.next())["body"] for _ in bodies] == bodies


async def test_a_member_of_another_channel_receives_nothing(
    servers: tuple[Served, Served],
) -> None:
    one, two = servers
    async with (
        member(one.url("room-a", member="alice")) as alice,
        member(two.url("room-a", member="bob")) as bob,
        member(two.url("room-b", member="dave")) as dave,
    ):
        for i in range(5):
            await alice.say(f"only for room-a {i}")
        for i in range(5):
            assert (await bob.next())["body"] == f"only for room-a {i}"
        # Redis delivers in publish order: dave's first message being the later sentinel
        # proves none of room-a's messages reached him.
        await dave.say("sentinel")
        assert await dave.next() == said("dave", "sentinel")


async def test_a_process_subscribes_only_to_channels_with_local_members(
    servers: tuple[Served, Served], redis: Redis
) -> None:
    one, _ = servers

    async def subscribers(channel: str) -> int:
        [(_, count)] = await redis.pubsub_numsub(PREFIX + channel)
        return int(count)

    async def pubsub_connections() -> int:
        clients = await redis.client_list(_type="pubsub")
        return sum(1 for c in clients if c.get("name") == one.hub.name)

    assert await subscribers("only-here") == 0
    async with (
        member(one.url("only-here", member="a")),
        member(one.url("only-here", member="b")),
        member(one.url("also-here", member="c")),
    ):
        assert await subscribers("only-here") == 1, "one subscription per process, not per socket"
        assert await subscribers("also-here") == 1
        assert await pubsub_connections() == 1, "one pub/sub connection per process"
    await eventually(lambda: one.hub.local_count("only-here") == 0, "the sockets to leave")

    async def unsubscribed() -> bool:
        return await subscribers("only-here") == 0 and await subscribers("also-here") == 0

    await eventually(unsubscribed, "the process to unsubscribe when its last member left")


async def test_publishing_from_outside_a_socket_reaches_both_servers(
    servers: tuple[Served, Served], redis_url: str
) -> None:
    """What a background job or an HTTP request does: publish without a socket of its own."""
    one, two = servers
    async with (
        Hub(redis_url, prefix=PREFIX) as publisher,
        member(one.url("notices", member="alice")) as alice,
        member(two.url("notices", member="bob")) as bob,
    ):
        receivers = await publisher.publish("notices", {"type": "notice", "body": "checked in"})
        assert receivers == 2, "two processes have members on the channel"
        for client in (alice, bob):
            assert await client.next() == {"type": "notice", "body": "checked in"}


async def test_a_malformed_publication_does_not_stop_delivery(
    servers: tuple[Served, Served], redis: Redis
) -> None:
    one, _ = servers
    async with member(one.url("garbled", member="alice")) as alice:
        await redis.publish(PREFIX + "garbled", b"\xff\xfe not utf-8")
        await alice.say("after the garbage")
        assert await alice.next() == said("alice", "after the garbage")


async def test_delivery_resumes_after_the_redis_connection_is_killed(
    redis_url: str, redis: Redis
) -> None:
    """Pub/sub is at-most-once: what is published while the link is down is lost, but the
    hub reconnects, resubscribes, and later messages arrive again."""
    with served_in_thread(Hub(redis_url, prefix=PREFIX)) as served:
        async with member(served.url("resilient", member="alice")) as alice:
            clients = await redis.client_list(_type="pubsub")
            [hub_link] = [c for c in clients if c.get("name") == served.hub.name]
            assert await redis.client_kill_filter(_id=hub_link["id"]) == 1

            async def probe_arrives() -> bool:
                await redis.publish(PREFIX + "resilient", json.dumps({"type": "probe"}))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        return (await alice.next()) == {"type": "probe"}
                return False

            await eventually(probe_arrives, "delivery to resume after the reconnect")
            await alice.say("after the outage")
            message = await alice.next()
            while message == {"type": "probe"}:  # late copies of earlier probes
                message = await alice.next()
            assert message == said("alice", "after the outage")


# Authentication before accepting


async def test_a_bad_or_missing_token_is_refused_with_4401(servers: tuple[Served, Served]) -> None:
    one, _ = servers
    before = len(one.state.states_at_verification)
    for url in (one.url("lobby", token="wrong"), one.url("lobby", token=None)):
        async with connect(url, open_timeout=DEADLINE_S) as connection:
            code, reason = await close_code(connection)
        assert code == CLOSE_UNAUTHENTICATED
        assert reason in {"invalid_token", "not_authenticated"}
    assert one.state.states_at_verification[before:] == [WebSocketState.CONNECTING]
    assert one.hub.local_count("lobby") == 0


async def test_the_token_may_come_in_the_authorization_header(
    servers: tuple[Served, Served],
) -> None:
    one, _ = servers
    url = one.url("header-auth", member="erin", token=None)
    async with member(url, Authorization=f"Bearer {TOKEN}") as erin:
        await erin.say("hi")
        assert await erin.next() == said("erin", "hi")
    async with connect(url, additional_headers={"Authorization": "Bearer nope"}) as connection:
        assert (await close_code(connection))[0] == CLOSE_UNAUTHENTICATED


async def test_a_non_member_is_refused_with_4403(servers: tuple[Served, Served]) -> None:
    one, _ = servers
    async with connect(one.url("private-room"), open_timeout=DEADLINE_S) as connection:
        assert await close_code(connection) == (CLOSE_FORBIDDEN, "not_a_member")
    assert one.hub.local_count("private-room") == 0


# Tokens kept out of URLs


async def test_the_token_may_come_as_a_subprotocol(servers: tuple[Served, Served]) -> None:
    one, _ = servers
    url = one.url("subprotocol-auth", member="fay", token=None)
    async with member(url, subprotocols=[BEARER_SUBPROTOCOL, TOKEN]) as fay:
        assert fay.connection.subprotocol == BEARER_SUBPROTOCOL
        await fay.say("hi")
        assert await fay.next() == said("fay", "hi")
    offered = [Subprotocol(BEARER_SUBPROTOCOL), Subprotocol("nope")]
    async with connect(url, subprotocols=offered, open_timeout=DEADLINE_S) as connection:
        assert connection.subprotocol == BEARER_SUBPROTOCOL  # so the client reads the close
        assert await close_code(connection) == (CLOSE_UNAUTHENTICATED, "invalid_token")


@pytest.mark.parametrize(
    ("first", "closed"),
    [
        ({"type": "auth", "token": "nope"}, "invalid_token"),
        ({"type": "hello", "token": TOKEN}, "not_authenticated"),
        ({"type": "auth"}, "not_authenticated"),
    ],
    ids=["bad-token", "not-an-auth-message", "no-token"],
)
async def test_the_token_may_come_as_the_first_message(
    servers: tuple[Served, Served], first: dict[str, Any], closed: str
) -> None:
    one, _ = servers
    url = one.url("message-auth", member="gus", token=None)
    async with member(url, first={"type": "auth", "token": TOKEN}) as gus:
        await gus.say("hi")
        assert await gus.next() == said("gus", "hi")
    async with connect(url, open_timeout=DEADLINE_S) as connection:
        await connection.send(json.dumps(first))
        assert await close_code(connection) == (CLOSE_UNAUTHENTICATED, closed)


# The token's lease: expiry and revocation


async def test_a_socket_is_closed_when_its_token_expires(servers: tuple[Served, Served]) -> None:
    one, _ = servers
    token = leased_token(expires_at=time.time() + 1)
    async with member(one.url("expiring", member="hal", token=token)) as hal:
        assert await hal.closed() == (CLOSE_UNAUTHENTICATED, "token_expired")
    await eventually(lambda: one.hub.local_count("expiring") == 0, "hal to leave the hub")
    async with connect(one.url("expiring", token=token), open_timeout=DEADLINE_S) as late:
        assert await close_code(late) == (CLOSE_UNAUTHENTICATED, "token_expired")


async def test_a_revoked_session_closes_its_sockets_in_every_process_at_once(
    servers: tuple[Served, Served], redis: Redis
) -> None:
    one, two = servers
    ended, kept = uuid.uuid4(), uuid.uuid4()
    token_of_ended, token_of_kept = (leased_token(session_id=str(s)) for s in (ended, kept))
    async with (
        member(one.url("sessions", member="ida", token=token_of_ended)) as ida_one,
        member(two.url("sessions", member="ida", token=token_of_ended)) as ida_two,
        member(two.url("sessions", member="jon", token=token_of_kept)) as jon,
    ):
        await Revocations(redis, timedelta(minutes=1)).announce([ended])
        for socket_of_ended in (ida_one, ida_two):
            assert await socket_of_ended.closed() == (CLOSE_UNAUTHENTICATED, "session_revoked")
        await jon.say("still here")
        assert await jon.next() == said("jon", "still here")


async def test_a_socket_joining_just_after_its_session_was_revoked_is_closed(
    servers: tuple[Served, Served], redis: Redis
) -> None:
    """As for a socket verified just before the revocation and joining just after it."""
    one, _ = servers
    ended = uuid.uuid4()
    await Revocations(redis, timedelta(minutes=1)).announce([ended])
    url = one.url("late-join", member="kim", token=leased_token(session_id=str(ended)))
    async with connect(url, open_timeout=DEADLINE_S) as connection:
        assert await close_code(connection) == (CLOSE_UNAUTHENTICATED, "session_revoked")


# Leaving


async def test_closing_a_socket_removes_it_from_the_hub(servers: tuple[Served, Served]) -> None:
    one, two = servers
    async with member(two.url("leaving", member="bob")) as bob:
        async with member(one.url("leaving", member="alice")):
            assert one.hub.local_members("leaving") == ["alice"]
        await eventually(lambda: one.hub.local_count("leaving") == 0, "alice to leave the hub")
        assert one.hub.local_count() == 0
        assert two.hub.local_count("leaving") == 1
        await bob.say("still here")
        assert await bob.next() == said("bob", "still here")
    await eventually(lambda: two.hub.local_count() == 0, "bob to leave the hub")


async def test_invalid_frames_are_answered_and_skipped(servers: tuple[Served, Served]) -> None:
    one, _ = servers
    async with member(one.url("frames", member="alice")) as alice:
        for frame in ("not json", "[1, 2]", b"binary"):
            await alice.connection.send(frame)
            assert await alice.next() == {"type": "error", "code": "invalid_message"}
        await alice.say("fine")
        assert await alice.next() == said("alice", "fine")


# Heartbeats


@pytest.fixture(scope="module")
def beating(redis_url: str) -> Iterator[Served]:
    hub = Hub(redis_url, prefix=PREFIX, heartbeat_interval=0.25, heartbeat_timeout=0.5)
    with served_in_thread(hub) as served:
        yield served


async def test_a_socket_that_does_not_answer_pings_is_dropped(beating: Served) -> None:
    async with (
        member(beating.url("beats", member="lively")) as lively,
        connect(beating.url("beats", member="silent")) as silent,
    ):
        await eventually(lambda: beating.hub.local_count("beats") == 2, "both to join")
        # `silent` reads nothing and so answers no ping; `lively` answers each one.
        code, reason = await close_code(silent)
        assert (code, reason) == (CLOSE_HEARTBEAT_TIMEOUT, "heartbeat_timeout")
        await eventually(lambda: beating.hub.local_count("beats") == 1, "silent to be dropped")
        assert beating.hub.local_members("beats") == ["lively"]
        pings_then = lively.pings
        await eventually(lambda: lively.pings >= pings_then + 3, "three more answered pings")
        await lively.say("still alive")
        assert await lively.next() == said("lively", "still alive")
        assert beating.hub.local_members("beats") == ["lively"]


def tiny_buffer(port: int) -> socket.socket:
    """A client socket with a small receive buffer (no autotuning), so it fills quickly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_a_socket_that_cannot_keep_up_is_dropped_without_delaying_the_others(
    redis_url: str, redis: Redis
) -> None:
    """`stalled` never reads: once TCP and the server's buffers are full its outbox fills and
    the hub drops it, while `lively` on the same channel gets every message (each one before
    the next is published, so only a socket that stopped reading can overflow)."""
    hub = Hub(redis_url, prefix=PREFIX, max_pending=4, send_timeout=1.0)

    def too_slow_drops() -> float:
        value = REGISTRY.get_sample_value("realtime_sockets_dropped_total", {"reason": "too_slow"})
        return value or 0.0

    dropped_before = too_slow_drops()
    with served_in_thread(hub) as served:
        async with (
            member(served.url("firehose", member="lively")) as lively,
            connect(
                served.url("firehose", member="stalled"),
                sock=tiny_buffer(served.port),
                close_timeout=0.1,  # it reads nothing, so no close handshake
            ),
        ):
            await eventually(lambda: hub.local_count("firehose") == 2, "both to join")
            filler = secrets.token_urlsafe(24_000)  # random: deflate cannot shrink it away
            for seq in range(2_000):  # at most ~60 MB; kernel buffers hold a few MB
                payload = json.dumps({"type": "bulk", "seq": seq, "filler": filler})
                await redis.publish(PREFIX + "firehose", payload)
                assert (await lively.next())["seq"] == seq, "lively keeps up, so it stays"
                if too_slow_drops() > dropped_before:
                    break
            await eventually(lambda: hub.local_members("firehose") == ["lively"], "the drop")
            await lively.say("still here")
            assert await lively.next() == said("lively", "still here")
    assert too_slow_drops() == dropped_before + 1


# Shutdown


async def test_stopping_the_server_closes_sockets_and_leaves_no_task(redis_url: str) -> None:
    """Served on this test's own loop, so its tasks are visible here."""
    before = asyncio.all_tasks()
    hub = Hub(redis_url, prefix=PREFIX)
    state = ChannelApp(hub)
    server = uvicorn_server(state)
    sock = bound_socket()
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started, "the server to start")
    served = Served(state, server, sock.getsockname()[1])
    async with member(served.url("shutdown", member="a")) as a:
        async with member(served.url("shutdown", member="b")):
            assert hub.local_count("shutdown") == 2
        await eventually(lambda: hub.local_count("shutdown") == 1, "b to leave")
        server.should_exit = True
        code, _ = await a.closed()
        assert code in {1001, 1012}, "going away (hub) or service restart (uvicorn)"
    await asyncio.wait_for(serving, DEADLINE_S)
    sock.close()
    assert hub.local_count() == 0
    leftover = {t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()}
    assert leftover == set(), leftover
