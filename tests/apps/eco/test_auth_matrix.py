"""Who may call what: every ECO² route against every kind of caller.

The table lists every authenticated HTTP route of `ensemble.apps.eco.endpoints` (a guard
fails when a route is added without a row). Every row is called with each kind of bad token
(401 in the error shape, nothing written) and with a good one (the route's success status);
the admin rows by a user (403, even with a token claiming ADMIN: the role is read live) and an
admin; the rows naming a user's scan task or chat session by a stranger (404, exactly as for
a missing id). The notification WebSocket refuses the same bad tokens with close code 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from ensemble.apps import load_app
from ensemble.apps.eco.endpoints import routers
from ensemble.apps.eco.models import Role
from ensemble.apps.eco.my.service import notification_channel
from ensemble.apps.eco.schemas import PREFIX
from ensemble.kernel.db import new_id
from ensemble.kernel.identity.external import external_secret, sign_dev_token
from ensemble.kernel.realtime import Publisher
from ensemble.server import create_app
from ensemble.settings import Settings
from tests import apicheck
from tests.apicheck import (
    Server,
    assert_error,
    bearer,
    fill,
    http_routes,
    websocket_routes,
)
from tests.apps.eco.conftest import EcoUser, EcoWorld, eco_rows, error_of, log_out, quick_users
from tests.polling import eventually

DEADLINE_S = 10.0


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # placeholders named as in the routes, filled from the scene
    body: Any = None
    params: dict[str, str] | None = None
    ok: int = 200  # the status a good token gets
    admin: bool = False  # ADMIN role only
    owned: str | None = None  # names a row of its owner: the 404 code for anyone else

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("GET", "/auth/me"),
    Endpoint("POST", "/images/presigned-url", {"content_type": "image/jpeg", "size": 9}, ok=201),
    Endpoint("POST", "/images/register", {"cdn_url": "https://cdn.example.com/a.jpg"}, ok=201),
    Endpoint("POST", "/scan/classify", {"user_input": "페트병"}, ok=202),
    Endpoint("GET", "/scan/tasks/{task_id}", owned="task_not_found"),
    Endpoint("GET", "/scan/history"),
    Endpoint("GET", "/scan/stats"),
    Endpoint("GET", "/characters"),
    Endpoint("GET", "/characters/me"),
    Endpoint("GET", "/characters/me/history", params={"at": "2026-01-01T00:00:00Z"}),
    Endpoint("GET", "/characters/ranking"),
    Endpoint("GET", "/my/profile"),
    Endpoint("PATCH", "/my/profile", {"nickname": "Matrix"}),
    Endpoint("GET", "/notifications"),
    Endpoint("GET", "/locations/nearby", params={"lat": "37.57", "lng": "126.98"}),
    Endpoint("POST", "/chat/sessions", {"title": "Bins"}, ok=201),
    Endpoint("GET", "/chat/sessions"),
    Endpoint(
        "POST",
        "/chat/sessions/{session_id}/messages",
        {"content": "페트병은 어떻게 버려요?"},
        ok=202,
        owned="chat_session_not_found",
    ),
    Endpoint("GET", "/chat/sessions/{session_id}/messages", owned="chat_session_not_found"),
    Endpoint("GET", "/admin/dlq", admin=True),
    Endpoint("POST", "/admin/dlq/reprocess", {"queue": "eco.scan.images", "count": 1}, admin=True),
    # last: it ends the session whose tokens the others use
    Endpoint("POST", "/auth/logout", {"refresh_token": "{refresh_token}"}, ok=204),
]
OPEN_ROUTES = {
    ("POST", "/auth/signup"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("PUT", "/images/uploads/{upload_id}"),  # the signed URL is the credential
}
WEBSOCKET_ROUTES = {"/ws/notifications"}
ADMIN = [e for e in ENDPOINTS if e.admin]
OWNED = [e for e in ENDPOINTS if e.owned]


def by_id(endpoints: list[Endpoint]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("endpoint", endpoints, ids=[e.id for e in endpoints])


def documented_routes(settings: Settings) -> set[tuple[str, str]]:
    """Every `(method, path)` of ECO²'s OpenAPI document, paths without the prefix.

    `http_routes` alone misses routes of routers included into another (FastAPI keeps those
    as `_IncludedRouter`, not `APIRoute`): the admin DLQ routes."""
    document = create_app([load_app("eco")], settings, alone=True).openapi()
    return {
        (method.upper(), path.removeprefix(PREFIX))
        for path, operations in document["paths"].items()
        if path.startswith(PREFIX)
        for method in operations
    }


def test_table_lists_every_route(settings: Settings) -> None:
    served = http_routes(routers, PREFIX) | documented_routes(settings)
    assert served - OPEN_ROUTES == {(e.method, e.path) for e in ENDPOINTS}
    assert served >= OPEN_ROUTES
    assert websocket_routes(routers, PREFIX) == WEBSOCKET_ROUTES


@dataclasses.dataclass(frozen=True)
class Scene:
    """`owner` has a scan task and a chat session (their ids and refresh token in `values`)."""

    owner: EcoUser
    values: dict[str, str]

    def missing(self) -> dict[str, str]:
        """The values with every row id replaced by one that exists nowhere."""
        return {**self.values, "task_id": str(new_id()), "session_id": str(new_id())}


@pytest.fixture
async def scene(eco: EcoWorld) -> Scene:
    [owner] = await quick_users(eco, 1)
    task = await eco.classify(owner, user_input="유리병")
    assert task.status_code == 202, task.text
    chat = await eco.client.post(
        f"{PREFIX}/chat/sessions", json={"title": "Mine"}, headers=owner.headers
    )
    assert chat.status_code == 201, chat.text
    return Scene(
        owner,
        {
            "task_id": task.json()["task_id"],
            "session_id": chat.json()["session_id"],
            "refresh_token": owner.refresh_token,
        },
    )


async def call(
    world: EcoWorld, endpoint: Endpoint, values: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    return await world.client.request(
        endpoint.method,
        PREFIX + fill(endpoint.path, values),
        json=fill(endpoint.body, values),
        params=endpoint.params,
        headers=headers,
    )


# Tokens


mint = functools.partial(apicheck.mint, realm="eco")
"""An access token of eco (or of `realm=`), as its login issues them."""


async def revoked(world: EcoWorld, user: EcoUser) -> str:
    """The access token of a session of `user` that logged out."""
    tokens = await world.login(user.email)
    out = await log_out(world, tokens["access_token"], tokens["refresh_token"])
    assert out.status_code == 204, out.text
    token: str = tokens["access_token"]
    return token


async def disabled(world: EcoWorld, user: EcoUser) -> str:
    """`user`'s own token, after their account was disabled."""
    async with world.database.unit_of_work() as session:
        await session.execute(
            text("UPDATE identity.accounts SET is_active = false WHERE id = :id"),
            {"id": user.user_id},
        )
    return user.access_token


def provider_token(world: EcoWorld, user: EcoUser, *, ours: bool) -> str:
    """A token shaped like B0's identity provider's: signed with its secret for its audience,
    or with ECO²'s own key for audience `eco` (but no `typ` or `jti`)."""
    if ours:
        secret, audience = world.settings.signing_key(), "eco"
    else:
        found = external_secret(world.settings)
        assert found is not None
        secret, audience = found, "authenticated"
    return sign_dev_token(
        secret, str(user.user_id), user.email, timedelta(hours=1), audience=audience
    )


TokenMaker = Callable[[EcoWorld, EcoUser], Awaitable[str | None] | str | None]


async def token_of(make: TokenMaker, world: EcoWorld, user: EcoUser) -> str | None:
    made = make(world, user)
    return await made if inspect.isawaitable(made) else made


# Each a bad token naming the scene's owner (or none), and the error code it must get.
BAD_TOKENS: dict[str, tuple[TokenMaker, str]] = {
    "none": (lambda world, user: None, "not_authenticated"),
    "malformed": (lambda world, user: "not.a.jwt", "invalid_token"),
    "expired": (
        lambda world, user: mint(world, user.user_id, age=timedelta(hours=2)),
        "token_expired",
    ),
    "forged": (
        lambda world, user: mint(world, user.user_id, secret="not-our-key-" * 4),
        "invalid_token",
    ),
    "stock-realm": (lambda world, user: mint(world, user.user_id, realm="stock"), "invalid_token"),
    "b0-provider": (lambda world, user: provider_token(world, user, ours=False), "invalid_token"),
    "provider-shaped": (
        lambda world, user: provider_token(world, user, ours=True),
        "invalid_token",
    ),
    "refresh-token": (lambda world, user: user.refresh_token, "invalid_token"),
    "unknown-account": (lambda world, user: mint(world, new_id()), "account_disabled"),
    "revoked": (revoked, "session_revoked"),
    "disabled-account": (disabled, "account_disabled"),  # last: it disables the owner
}


def outcome(response: httpx.Response) -> tuple[int, str, str | None]:
    """Status, error code (the body must have the error shape) and WWW-Authenticate."""
    return *error_of(response), response.headers.get("www-authenticate")


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_a_bad_token_is_401_on_every_route_and_writes_nothing(
    eco: EcoWorld, scene: Scene, kind: str
) -> None:
    make, code = BAD_TOKENS[kind]
    token = await token_of(make, eco, scene.owner)
    headers = bearer(token) if token else {}
    before = await eco_rows(eco.database)
    got = {e.id: outcome(await call(eco, e, scene.values, headers)) for e in ENDPOINTS}
    assert got == {e.id: (401, code, "Bearer") for e in ENDPOINTS}
    assert await eco_rows(eco.database) == before


async def test_a_good_token_opens_every_route(eco: EcoWorld, scene: Scene) -> None:
    admin = await eco.user(Role.ADMIN)
    got = {}
    for e in ENDPOINTS:
        caller = admin if e.admin else scene.owner
        got[e.id] = (await call(eco, e, scene.values, caller.headers)).status_code
    assert got == {e.id: e.ok for e in ENDPOINTS}


# Roles and owners


@by_id(ADMIN)
async def test_admin_routes_refuse_users_and_admit_admins(
    eco: EcoWorld, scene: Scene, endpoint: Endpoint
) -> None:
    claiming = mint(eco, scene.owner.user_id, role="ADMIN")  # valid, but the role is read live
    before = await eco_rows(eco.database)
    for headers in (scene.owner.headers, bearer(claiming)):
        assert_error(await call(eco, endpoint, scene.values, headers), 403, "role_forbidden")
    assert await eco_rows(eco.database) == before

    admin = await eco.user(Role.ADMIN)
    assert (await call(eco, endpoint, scene.values, admin.headers)).status_code == 200
    async with eco.database.unit_of_work() as session:  # demoted: out at once
        await session.execute(
            text("UPDATE eco_auth.users SET role = 'USER' WHERE account_id = :id"),
            {"id": admin.user_id},
        )
    demoted = await call(eco, endpoint, scene.values, admin.headers)
    assert_error(demoted, 403, "role_forbidden")


@by_id(OWNED)
async def test_another_users_row_is_404_like_a_missing_one(
    eco: EcoWorld, scene: Scene, endpoint: Endpoint
) -> None:
    [stranger] = await quick_users(eco, 1)
    before = await eco_rows(eco.database)
    foreign = await call(eco, endpoint, scene.values, stranger.headers)
    missing = await call(eco, endpoint, scene.missing(), stranger.headers)
    assert_error(foreign, 404, endpoint.owned)
    assert foreign.json() == missing.json()
    assert await eco_rows(eco.database) == before
    mine = await call(eco, endpoint, scene.values, scene.owner.headers)
    assert mine.status_code == endpoint.ok, mine.text


# The notification WebSocket (on a real server)


def socket_url(server: Server, token: str | None) -> str:
    query = f"?{urlencode({'token': token})}" if token is not None else ""
    return f"{server.ws_url}{PREFIX}/ws/notifications{query}"


async def refusal(url: str) -> tuple[int, str]:
    """The close code and reason of a socket the server accepts and closes at once."""
    async with connect(url) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), DEADLINE_S)
    frame = closed.value.rcvd
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


async def test_the_notification_socket_refuses_bad_tokens(
    eco: EcoWorld, scene: Scene, eco_server: Server
) -> None:
    got = {}
    for kind, (make, _) in BAD_TOKENS.items():  # in order: the last disables the owner
        got[kind] = await refusal(socket_url(eco_server, await token_of(make, eco, scene.owner)))
    assert got == {kind: (4401, code) for kind, (_, code) in BAD_TOKENS.items()}


async def test_the_notification_socket_delivers_to_its_user(
    eco: EcoWorld, scene: Scene, eco_server: Server
) -> None:
    payload = {"type": "notification", "title": "hello"}
    assert eco.settings.redis_url is not None
    async with (
        connect(socket_url(eco_server, scene.owner.access_token)) as socket,
        Publisher(eco.settings.redis_url) as publisher,
    ):
        channel = notification_channel(scene.owner.user_id)
        # published until the server's subscription for the socket is confirmed
        await eventually(lambda: publisher.publish(channel, payload), lambda n: n >= 1)
        async with asyncio.timeout(DEADLINE_S):
            frame = json.loads(await socket.recv())
            while frame.get("type") != "notification":  # skip heartbeats
                frame = json.loads(await socket.recv())
    assert frame == payload


async def joined(socket: ClientConnection, user: EcoUser, redis_url: str) -> None:
    """Return once `socket` receives what is published to its user (so it has joined)."""
    payload = {"type": "notification", "title": "joined?"}
    async with Publisher(redis_url) as publisher:
        channel = notification_channel(user.user_id)
        await eventually(lambda: publisher.publish(channel, payload), lambda n: n >= 1)
    async with asyncio.timeout(DEADLINE_S):
        while json.loads(await socket.recv()) != payload:  # skip heartbeats
            pass


async def closing(socket: ClientConnection) -> tuple[int, str]:
    """The close code and reason the server ends `socket` with (frames before it skipped)."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(DEADLINE_S):
            while True:
                await socket.recv()
    frame = socket.protocol.close_rcvd
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


async def test_the_notification_socket_closes_at_once_when_its_session_ends(
    eco: EcoWorld, eco_server: Server
) -> None:
    user, redis_url = await eco.user(), eco.settings.redis_url
    assert redis_url is not None
    offered = [Subprotocol("bearer"), Subprotocol(user.access_token)]  # not in the URL
    async with connect(socket_url(eco_server, None), subprotocols=offered) as socket:
        assert socket.subprotocol == "bearer"
        await joined(socket, user, redis_url)
        assert (await log_out(eco, user.access_token, user.refresh_token)).status_code == 204
        assert await closing(socket) == (4401, "session_revoked")


async def test_the_notification_socket_closes_when_its_token_expires(
    eco: EcoWorld, eco_server: Server
) -> None:
    user, redis_url = await eco.user(), eco.settings.redis_url
    assert redis_url is not None
    lifetime = timedelta(minutes=eco.settings.access_token_minutes)
    expiring = mint(eco, user.user_id, age=lifetime - timedelta(seconds=2))
    async with connect(socket_url(eco_server, None)) as socket:
        await socket.send(json.dumps({"type": "auth", "token": expiring}))  # the first message
        await joined(socket, user, redis_url)
        assert await closing(socket) == (4401, "token_expired")
