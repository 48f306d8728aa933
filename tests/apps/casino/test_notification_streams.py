"""Live notifications on real servers: the SSE stream and the WebSocket send every message
once, in id order, also under concurrent senders; a reconnect replays what was missed (after
`Last-Event-ID` or `?after=`), past retention one `resync`; heartbeats; muted categories stay
off the stream (not out of the inbox); bad tokens are refused with the kernel's 4401; and an
SSE client reconnecting to a restarted `ensemble serve` process loses nothing.
No sleeps: every wait is for a frame or an HTTP answer, bounded by a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import delete, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ensemble.apps.casino import app as casino_app
from ensemble.apps.casino.domain import NotificationCategory
from ensemble.apps.casino.models import User
from ensemble.apps.casino.notifications import service as notifications
from ensemble.apps.casino.notifications.models import Notification
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.kernel.realtime import CLOSE_UNAUTHENTICATED
from ensemble.server import create_app
from tests.apicheck import serve
from tests.apps.casino.conftest import API, CasinoWorld, Member
from tests.apps.casino.inboxkit import DEADLINE_S, SseReader, send, socket_frames, sse
from tests.apps.casino.test_auth_matrix import BAD_TOKENS
from tests.serving import uvicorn_serving

HEARTBEAT_S = 0.3
STREAM = f"{API}/notifications/stream"


@pytest.fixture
async def base_url(casino: CasinoWorld) -> AsyncIterator[str]:
    """Casino-Club served alone by a real uvicorn on the test's database, heartbeats every
    `HEARTBEAT_S`."""
    tuned = CasinoSettings(notification_heartbeat_seconds=HEARTBEAT_S)
    app = create_app(
        [casino_app], casino.settings, database=casino.database, alone=True,
        app_settings={"casino": tuned},
    )  # fmt: skip
    async with uvicorn_serving(app) as url:
        yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        yield client


@asynccontextmanager
async def socket(
    base_url: str, token: str, after: int | None = None
) -> AsyncIterator[ClientConnection]:
    query = {"token": token, **({"after": str(after)} if after is not None else {})}
    url = "ws" + base_url.removeprefix("http") + f"{API}/ws/notifications?{urlencode(query)}"
    async with connect(url) as ws:
        yield ws


@asynccontextmanager
async def both_streams(
    http: httpx.AsyncClient, base_url: str, member: Member
) -> AsyncIterator[tuple[SseReader, ClientConnection]]:
    """The member's SSE stream and socket, each past its `ready`."""
    async with (
        sse(http, STREAM, member.access_token) as stream,
        socket(base_url, member.access_token) as ws,
    ):
        assert (await stream.next()).event == "ready"
        assert (await socket_frames(ws, 1))[0]["type"] == "ready"
        yield stream, ws


async def test_sse_sends_each_message_once_in_order_and_replays_after_last_event_id(
    casino: CasinoWorld, http: httpx.AsyncClient
) -> None:
    member = await casino.member()
    await send(casino.database, member.user_id, 2)  # before the stream: not sent (no id)
    async with sse(http, STREAM, member.access_token) as stream:
        ready = await stream.next()
        assert (ready.event, ready.id, ready.data) == ("ready", 2, {"last_id": 2})

        async def one(index: int) -> None:
            await send(casino.database, member.user_id)

        await asyncio.gather(*(one(i) for i in range(30)))  # concurrent senders
        got = await stream.notifications(30)
        assert [(e.event, e.id, e.data["id"]) for e in got] == [
            ("notification", i, i) for i in range(3, 33)
        ]
    await send(casino.database, member.user_id, 2)  # while disconnected: 33, 34
    async with sse(http, STREAM + "?after=1", member.access_token, last_event_id=30) as stream:
        assert (await stream.next()).id == 30  # Last-Event-ID wins over the URL's `after`
        replayed = await stream.notifications(4)
        assert [e.id for e in replayed] == [31, 32, 33, 34]
        await send(casino.database, member.user_id)
        assert [e.id for e in await stream.notifications(1)] == [35]


async def test_an_event_source_may_send_its_token_in_the_query(
    casino: CasinoWorld, http: httpx.AsyncClient
) -> None:
    member = await casino.member()
    await send(casino.database, member.user_id, 2)
    async with sse(http, STREAM, member.access_token, 0, token_in_query=True) as stream:
        assert (await stream.next()).event == "ready"
        assert [e.id for e in await stream.notifications(2)] == [1, 2]
    refused = {}
    for kind in ("garbage", "forged", "expired", "refresh", "logged-out"):
        make, code = BAD_TOKENS[kind]
        answer = await http.get(STREAM, params={"token": await make(casino, member)})
        refused[kind] = (answer.status_code, answer.json()["error"]["code"], code)
    assert all(status == 401 and got == code for status, got, code in refused.values()), refused
    fresh = await casino.login(member.nickname)
    header_wins = await http.get(
        STREAM, params={"token": fresh["access_token"]}, headers={"Authorization": "Bearer x"}
    )
    assert (header_wins.status_code, header_wins.json()["error"]["code"]) == (
        401,
        "invalid_token",
    )


async def test_a_revoked_session_ends_its_streams(
    casino: CasinoWorld, http: httpx.AsyncClient, base_url: str
) -> None:
    member = await casino.member()
    async with both_streams(http, base_url, member) as (stream, ws):
        body = {"refresh_token": member.refresh_token}
        out = await http.post(f"{API}/auth/logout", json=body, headers=member.headers)
        assert out.status_code == 204, out.text
        async with asyncio.timeout(DEADLINE_S):
            await _ended(stream)
            assert await _close_code(ws) == CLOSE_UNAUTHENTICATED


async def _ended(stream: SseReader) -> None:
    """Return once the stream ends (reading heartbeats until then)."""
    try:
        while True:
            await stream.next()
    except EOFError:
        return


async def _close_code(ws: ClientConnection) -> int | None:
    """The code the server closes the socket with (reading frames until then)."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_a_heartbeat_comes_and_past_retention_a_resync(
    casino: CasinoWorld, http: httpx.AsyncClient
) -> None:
    member = await casino.member()
    await send(casino.database, member.user_id, 3)
    async with casino.database.unit_of_work() as session:  # as the retention job would
        await session.execute(delete(Notification).where(Notification.id <= 2))
    async with sse(http, STREAM, member.access_token, last_event_id=1) as stream:
        first = await stream.next()
        assert (first.event, first.id, first.data) == ("resync", 3, {"last_id": 3})
        assert (await stream.next()).event == "heartbeat"
        await send(casino.database, member.user_id)
        assert [e.id for e in await stream.notifications(1)] == [4]


async def test_muted_categories_stay_off_the_stream_but_in_the_inbox(
    casino: CasinoWorld, http: httpx.AsyncClient, base_url: str
) -> None:
    member = await casino.member()
    async with both_streams(http, base_url, member) as (stream, ws):
        muted = await http.put(
            f"{API}/notifications/settings",
            json={"muted_live": ["reward"]},
            headers=member.headers,
        )
        assert muted.status_code == 200, muted.text
        await send(casino.database, member.user_id, 1, NotificationCategory.REWARD)
        await send(casino.database, member.user_id, 1, NotificationCategory.SYSTEM)
        await send(casino.database, member.user_id, 1, NotificationCategory.RESPONSIBLE_PLAY)
        assert [e.id for e in await stream.notifications(2)] == [2, 3]
        assert [f["id"] for f in await socket_frames(ws, 2)] == [2, 3]
    inbox = await http.get(f"{API}/notifications", headers=member.headers)
    assert [n["id"] for n in inbox.json()["items"]] == [3, 2, 1]


async def test_the_socket_replays_after_and_goes_live_under_concurrent_senders(
    casino: CasinoWorld, base_url: str
) -> None:
    member = await casino.member()
    await send(casino.database, member.user_id, 3)
    async with socket(base_url, member.access_token, after=1) as ws:
        first = await socket_frames(ws, 3)
        assert [(f["type"], f.get("id"), f.get("last_id")) for f in first] == [
            ("ready", None, 1),
            ("notification", 2, None),
            ("notification", 3, None),
        ]
        await asyncio.gather(*(send(casino.database, member.user_id) for _ in range(20)))
        assert [f["id"] for f in await socket_frames(ws, 20)] == list(range(4, 24))
    async with socket(base_url, member.access_token, after=20) as ws:
        assert [f.get("id") for f in await socket_frames(ws, 4)] == [None, 21, 22, 23]


async def close_of(base_url: str, query: str) -> tuple[int, str]:
    url = "ws" + base_url.removeprefix("http") + f"{API}/ws/notifications{query}"
    async with connect(url) as ws, asyncio.timeout(DEADLINE_S):
        with pytest.raises(ConnectionClosed):
            await ws.recv()  # refused at once: the close comes first
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


async def test_the_socket_refuses_bad_tokens_and_bad_after(
    casino: CasinoWorld, base_url: str
) -> None:
    member = await casino.member()
    got = {}
    for kind in ("garbage", "forged", "expired", "refresh", "logged-out"):
        make, code = BAD_TOKENS[kind]
        token = await make(casino, member)
        got[kind] = (await close_of(base_url, f"?{urlencode({'token': token})}"), code)
    assert all(close == (CLOSE_UNAUTHENTICATED, code) for close, code in got.values()), got
    fresh = await casino.login(member.nickname)
    bad = await close_of(base_url, f"?{urlencode({'token': fresh['access_token'], 'after': '-1'})}")
    assert bad == (1008, "validation_error")


# Across a server restart


@asynccontextmanager
async def served_stream(
    casino: CasinoWorld, workdir: Path, member: Member, last_event_id: int | None = None
) -> AsyncIterator[SseReader]:
    """An SSE stream of `member` on a fresh `ensemble serve --app casino` process (stopped
    on exit), past its `ready` frame."""
    database_url, redis_url = casino.settings.database_url, casino.settings.redis_url
    assert database_url is not None
    assert redis_url is not None
    with serve("casino", database_url, redis_url, workdir) as server:
        async with (
            httpx.AsyncClient(base_url=server.base_url) as http,
            sse(http, STREAM, member.access_token, last_event_id) as stream,
        ):
            assert (await stream.next()).event == "ready"
            yield stream


async def test_an_sse_client_resuming_after_a_server_restart_loses_nothing(
    casino: CasinoWorld, tmp_path: Path
) -> None:
    member = await casino.member()
    async with served_stream(casino, tmp_path, member) as stream:
        await send(casino.database, member.user_id, 3)
        got = await stream.notifications(3)
        assert [e.id for e in got] == [1, 2, 3]
    await send(casino.database, member.user_id, 4)  # while no server runs: 4..7
    async with served_stream(casino, tmp_path, member, last_event_id=got[-1].id) as stream:
        resumed = await stream.notifications(4)
        assert [(e.id, e.data["title"]) for e in resumed] == [
            (4, "message 0"), (5, "message 1"), (6, "message 2"), (7, "message 3")
        ]  # fmt: skip
        await send(casino.database, member.user_id)
        assert [e.id for e in await stream.notifications(1)] == [8]


async def test_a_message_to_many_reaches_open_sockets_live(
    casino: CasinoWorld, base_url: str
) -> None:
    """`notify_many` (a campaign) publishes each member's message once it commits."""
    alice, bob = await casino.member(), await casino.member()
    await send(casino.database, bob.user_id)  # bob's campaign message will be his second
    recipients = select(User.account_id).where(User.account_id.in_([alice.user_id, bob.user_id]))
    async with (
        socket(base_url, alice.access_token) as alice_ws,
        socket(base_url, bob.access_token) as bob_ws,
    ):
        assert [f["type"] for f in await socket_frames(alice_ws, 1)] == ["ready"]
        assert [f["type"] for f in await socket_frames(bob_ws, 1)] == ["ready"]
        async with casino.database.unit_of_work() as session:
            sent = await notifications.notify_many(
                session, recipients, NotificationCategory.CAMPAIGN, "Weekend bonus"
            )
        assert sent == 2
        [to_alice] = await socket_frames(alice_ws, 1)
        [to_bob] = await socket_frames(bob_ws, 1)
    assert (to_alice["id"], to_alice["category"], to_alice["title"]) == (
        1,
        "campaign",
        "Weekend bonus",
    )
    assert (to_bob["id"], to_bob["category"]) == (2, "campaign")
