"""Who may call what: every Focus Mate route against every kind of caller.

`ENDPOINTS` lists every HTTP route of `ensemble.apps.focus.endpoints.routers` but the open
ones (a guard fails when a route is added without a row). Each route is called with every
kind of bad token (401 in the error shape, nothing written). Then, one route at a time on a
fresh scene, the callers the route must refuse (a stranger to the room, post, conversation
or session; a participant who is not the owner; the banned on join; a plain user on
`/admin/*`) get the row's status and code with nothing written, and the caller it serves
gets its success status. The user's socket refuses the same bad tokens with 4401; the room
socket's own matrix is `live/test_socket.py`.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from ensemble.apps.focus import app as focus_app
from ensemble.apps.focus.endpoints import routers
from ensemble.apps.focus.models import Role
from ensemble.apps.focus.schemas import PREFIX
from ensemble.kernel.realtime import CLOSE_UNAUTHENTICATED
from ensemble.server import create_app
from tests import apicheck
from tests.apicheck import (
    bearer,
    fill,
    http_routes,
    outcome,
    websocket_routes,
)
from tests.apps.focus.conftest import PASSWORD, FocusUser, FocusWorld
from tests.apps.focus.scene import Scene, all_rows, build_scene
from tests.apps.focus.test_moderation import suspend
from tests.apps.focus.test_user_socket import refusal
from tests.serving import uvicorn_serving


class Who(enum.StrEnum):
    """A caller, as the scene has them."""

    OWNER = "owner"  # owns the rooms, the post, the session; in the conversation
    MEMBER = "member"  # in both rooms and the conversation, owns nothing
    STRANGER = "stranger"  # in nothing, owns nothing
    OUTSIDER = "outsider"  # the stranger, aimed at the private room
    BANNED = "banned"  # kicked from the public room with a ban
    USER = "user"  # the owner, a plain user, on an admin route
    ADMIN = "admin"


Refusal = tuple[int, str]
NOT_OWNER: Refusal = (403, "not_owner")
NOT_A_MEMBER: Refusal = (403, "not_a_member")
HIDDEN: Refusal = (404, "room_not_found")
NOT_AUTHOR: Refusal = (403, "not_author")
ADMINS_ONLY = {Who.USER: (403, "role_forbidden")}
OWNERS_ONLY = {Who.MEMBER: NOT_OWNER, Who.STRANGER: NOT_OWNER, Who.OUTSIDER: HIDDEN}


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # placeholders named as in the routes, filled from the scene
    body: Any = None
    ok: int = 200  # what `by` gets
    by: Who = Who.OWNER
    refused: dict[Who, Refusal] = dataclasses.field(default_factory=dict)
    private: bool = False  # `{room_id}` is the private room, for every caller

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def admin(method: str, path: str, body: Any = None, ok: int = 200) -> Endpoint:
    return Endpoint(method, path, body, ok, Who.ADMIN, ADMINS_ONLY)


ENDPOINTS = [
    # accounts and settings
    Endpoint("GET", "/users/me"),
    Endpoint("PATCH", "/users/me", {"display_name": "Matrix"}),
    Endpoint(
        "PATCH",
        "/users/me/password",
        {"current_password": PASSWORD, "new_password": "another horse battery"},
        204,
    ),
    Endpoint("GET", "/users/{user_id}/profile"),
    Endpoint(
        "POST",
        "/auth/logout",
        {"refresh_token": "{refresh_token}"},
        204,
        refused={Who.STRANGER: (401, "invalid_token")},  # someone else's refresh token
    ),
    Endpoint("GET", "/settings"),
    Endpoint("PATCH", "/settings", {"sound": False}),
    # rooms
    Endpoint("POST", "/rooms", {"name": "Matrix room"}, 201),
    Endpoint("GET", "/rooms"),
    Endpoint("GET", "/rooms/{room_id}", refused={Who.OUTSIDER: HIDDEN}),
    Endpoint("PATCH", "/rooms/{room_id}", {"name": "Renamed"}, refused=OWNERS_ONLY),
    Endpoint("DELETE", "/rooms/{room_id}", ok=204, refused=OWNERS_ONLY),
    Endpoint(
        "POST",
        "/rooms/{room_id}/join-code",
        refused={Who.MEMBER: NOT_OWNER, Who.STRANGER: HIDDEN},
        private=True,
    ),
    Endpoint(
        "POST",
        "/rooms/{room_id}/join",
        by=Who.STRANGER,
        refused={Who.BANNED: (403, "banned"), Who.OUTSIDER: (403, "invalid_join_code")},
    ),
    Endpoint(
        "POST", "/rooms/{room_id}/leave", ok=204, by=Who.MEMBER, refused={Who.OUTSIDER: HIDDEN}
    ),
    Endpoint("POST", "/rooms/{room_id}/transfer", {"user_id": "{user_id}"}, refused=OWNERS_ONLY),
    Endpoint("POST", "/rooms/{room_id}/kick", {"user_id": "{user_id}"}, 204, refused=OWNERS_ONLY),
    Endpoint(
        "GET",
        "/rooms/{room_id}/participants",
        refused={Who.STRANGER: NOT_A_MEMBER, Who.BANNED: NOT_A_MEMBER, Who.OUTSIDER: HIDDEN},
    ),
    admin("POST", "/admin/rooms/{room_id}/close", ok=204),
    admin("DELETE", "/admin/rooms/{room_id}/participants/{user_id}", ok=204),
    # the room's chat history (branch focus-live)
    Endpoint(
        "GET",
        "/rooms/{room_id}/messages",
        refused={Who.STRANGER: NOT_A_MEMBER, Who.BANNED: (403, "banned"), Who.OUTSIDER: HIDDEN},
    ),
    # timer (running in the scene)
    Endpoint(
        "POST",
        "/rooms/{room_id}/timer/{command}",
        refused={Who.MEMBER: NOT_OWNER, Who.STRANGER: NOT_A_MEMBER, Who.OUTSIDER: HIDDEN},
    ),
    Endpoint("GET", "/rooms/{room_id}/timer", refused={Who.OUTSIDER: HIDDEN}),
    # sessions, stats, achievements
    Endpoint("GET", "/sessions/me"),
    Endpoint(
        "PATCH",
        "/sessions/{session_id}",
        {"goal": "Write the matrix"},
        refused={Who.STRANGER: (404, "session_not_found")},
    ),
    Endpoint("GET", "/stats/me"),
    Endpoint("GET", "/achievements"),
    Endpoint("GET", "/achievements/me"),
    # community
    Endpoint("POST", "/posts", {"title": "Matrix"}, 201),
    Endpoint("GET", "/posts"),
    Endpoint("GET", "/posts/{post_id}"),
    Endpoint("PATCH", "/posts/{post_id}", {"title": "Edited"}, refused={Who.STRANGER: NOT_AUTHOR}),
    Endpoint("DELETE", "/posts/{post_id}", ok=204, refused={Who.STRANGER: NOT_AUTHOR}),
    Endpoint("GET", "/posts/{post_id}/comments"),
    Endpoint("POST", "/posts/{post_id}/comments", {"body": "Me too"}, 201),
    Endpoint(
        "PATCH", "/comments/{comment_id}", {"body": "Edited"}, refused={Who.STRANGER: NOT_AUTHOR}
    ),
    Endpoint("DELETE", "/comments/{comment_id}", ok=204, refused={Who.STRANGER: NOT_AUTHOR}),
    Endpoint("POST", "/posts/{post_id}/like"),
    Endpoint("DELETE", "/posts/{post_id}/like"),
    # reports and moderation
    Endpoint(
        "POST", "/reports", {"target_type": "post", "target_id": "{post_id}", "reason": "spam"}, 201
    ),
    admin("GET", "/admin/reports"),
    admin("POST", "/admin/reports/{report_id}/resolve", {}),
    admin("DELETE", "/admin/posts/{post_id}", ok=204),
    admin("DELETE", "/admin/comments/{comment_id}", ok=204),
    admin("POST", "/admin/users/{user_id}/suspend"),
    admin("POST", "/admin/users/{user_id}/unsuspend"),
    # messages
    Endpoint("POST", "/conversations", {"user_id": "{user_id}"}),  # 200: it exists
    Endpoint("GET", "/conversations"),
    *(
        Endpoint(
            method,
            f"/conversations/{{conversation_id}}/{action}",
            body,
            ok,
            refused={Who.STRANGER: (404, "conversation_not_found")},
        )
        for method, action, body, ok in (
            ("GET", "messages", None, 200),
            ("POST", "messages", {"text": "hi"}, 201),
            ("POST", "read", None, 200),
        )
    ),
    Endpoint("POST", "/users/{user_id}/block", ok=201),
    Endpoint("DELETE", "/users/{user_id}/block", ok=204),
    Endpoint("GET", "/blocks"),
    # notifications and devices
    Endpoint("GET", "/notifications"),
    Endpoint("GET", "/notifications/unread-count"),
    Endpoint("POST", "/notifications/read", {"ids": ["{notification_id}"]}),
    Endpoint("POST", "/devices", {"token": "another-device-01", "platform": "ios"}, 201),
    Endpoint(
        "DELETE", "/devices/{token}", ok=204, refused={Who.STRANGER: (404, "device_not_found")}
    ),
]
OPEN_ROUTES = {
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),  # the refresh token is the credential
    ("GET", "/time"),  # clients sync their clock before they sign in
    ("GET", "/demo"),  # the example client's page
}
SOCKETS = {
    "/ws/me": "test_the_users_socket_refuses_every_bad_token, here",
    "/ws/rooms/{room_id:uuid}": "live/test_socket.py, test_outsiders_are_refused",
    "/ws/{room_id:uuid}": "live/test_socket.py, the seed's path of the same socket",
}

SERVED = http_routes(routers, PREFIX)


def test_the_matrix_lists_every_route() -> None:
    listed = {e.key for e in ENDPOINTS}
    assert len(listed) == len(ENDPOINTS), "a route listed twice"
    assert listed == SERVED - OPEN_ROUTES
    assert SERVED >= OPEN_ROUTES
    sockets = websocket_routes(routers, PREFIX)
    assert sockets == set(SOCKETS)


# Calls


PEOPLE = {
    Who.OWNER: "owner",
    Who.USER: "owner",
    Who.MEMBER: "member",
    Who.STRANGER: "stranger",
    Who.OUTSIDER: "stranger",
    Who.BANNED: "banned",
    Who.ADMIN: "admin",
}
"""The scene's person behind each kind of caller."""


async def call(
    focus: FocusWorld, endpoint: Endpoint, values: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    return await focus.client.request(
        endpoint.method,
        PREFIX + fill(endpoint.path, values),
        json=fill(endpoint.body, values),
        headers=headers,
    )


async def call_as(focus: FocusWorld, scene: Scene, endpoint: Endpoint, who: Who) -> httpx.Response:
    """`endpoint` called by `who`, on the private room if the row or the caller says so."""
    values = scene.values
    if who is Who.OUTSIDER or endpoint.private:
        values = {**values, "room_id": values["private_room_id"]}
    person: FocusUser = getattr(scene, PEOPLE[who])
    return await call(focus, endpoint, values, person.headers)


@pytest.fixture
async def scene(focus: FocusWorld) -> Scene:
    return await build_scene(focus)


# Tokens


mint = functools.partial(apicheck.mint, realm="focus")
"""An access token of focus (or of `realm=`), as its login issues them."""


async def logged_out(focus: FocusWorld, user: FocusUser) -> str:
    """The access token of a session of `user` that has ended."""
    tokens = await focus.login(user.email)
    out = await focus.client.post(
        f"{PREFIX}/auth/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens["access_token"]),
    )
    assert out.status_code == 204, out.text
    token: str = tokens["access_token"]
    return token


async def suspended(focus: FocusWorld, user: FocusUser) -> str:
    """A token of `user` once a moderator suspended them, of a session the suspension did not
    revoke (those it did are refused as `logged-out` ones are): the suspension alone."""
    done = await suspend(focus, await focus.user(Role.ADMIN), user.user_id)
    assert done.status_code == 200, done.text
    return mint(focus, user.user_id)


TokenMaker = Callable[[FocusWorld, FocusUser], Awaitable[str | None]]


def made(make: Callable[[FocusWorld, FocusUser], str | None]) -> TokenMaker:
    async def maker(focus: FocusWorld, user: FocusUser) -> str | None:
        return make(focus, user)

    return maker


LIFETIME = timedelta(hours=2)
BAD_TOKENS: dict[str, tuple[TokenMaker, str]] = {
    "none": (made(lambda focus, user: None), "not_authenticated"),
    "garbage": (made(lambda focus, user: "not-a-token"), "invalid_token"),
    "forged": (
        made(lambda focus, user: mint(focus, user.user_id, secret="x" * 48)),
        "invalid_token",
    ),
    "expired": (made(lambda focus, user: mint(focus, user.user_id, age=LIFETIME)), "token_expired"),
    "stock": (
        made(lambda focus, user: mint(focus, user.user_id, realm="stock", role="ADMIN", stores=[])),
        "invalid_token",
    ),
    "eco": (
        made(lambda focus, user: mint(focus, user.user_id, realm="eco", role="ADMIN")),
        "invalid_token",
    ),
    "refresh": (made(lambda focus, user: user.refresh_token), "invalid_token"),
    "logged-out": (logged_out, "session_revoked"),
    "suspended": (suspended, "account_disabled"),
}
"""Each a bad token naming the scene's owner (or none), and the error code it gets."""


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_a_bad_token_is_401_on_every_route_and_writes_nothing(
    focus: FocusWorld, scene: Scene, kind: str
) -> None:
    make, code = BAD_TOKENS[kind]
    token = await make(focus, scene.owner)
    headers = bearer(token) if token is not None else {}
    before = await all_rows(focus.database)
    got = {}
    for e in ENDPOINTS:
        response = await call(focus, e, scene.values, headers)
        got[e.id] = (*outcome(response), response.headers.get("www-authenticate"))
    assert got == {e.id: (401, code, "Bearer") for e in ENDPOINTS}
    assert await all_rows(focus.database) == before


# Callers with a valid token


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.id for e in ENDPOINTS])
async def test_each_route_refuses_whom_it_must_and_serves_whom_it_may(
    focus: FocusWorld, scene: Scene, endpoint: Endpoint
) -> None:
    before = await all_rows(focus.database)
    got = {who: outcome(await call_as(focus, scene, endpoint, who)) for who in endpoint.refused}
    assert got == endpoint.refused
    assert await all_rows(focus.database) == before

    served = await call_as(focus, scene, endpoint, endpoint.by)
    assert served.status_code == endpoint.ok, served.text


async def test_a_role_claimed_in_the_token_is_not_believed(focus: FocusWorld, scene: Scene) -> None:
    """The role is read live: a valid token of a plain user claiming ADMIN is still a user's."""
    claiming = bearer(mint(focus, scene.owner.user_id, role="ADMIN"))
    reports = await focus.client.get(f"{PREFIX}/admin/reports", headers=claiming)
    assert outcome(reports) == (403, "role_forbidden")


async def test_a_stranger_leaving_a_public_room_changes_nothing(
    focus: FocusWorld, scene: Scene
) -> None:
    before = await all_rows(focus.database)
    leave = f"{PREFIX}/rooms/{scene.values['room_id']}/leave"
    assert (await focus.client.post(leave, headers=scene.stranger.headers)).status_code == 204
    assert await all_rows(focus.database) == before


# The user's socket


@pytest.fixture
async def me_url(focus: FocusWorld) -> AsyncIterator[str]:
    """`/ws/me` of Focus Mate served alone by a real uvicorn on the test's database."""
    settings = focus.settings.model_copy(update={"realtime_auth_timeout_seconds": 1.0})
    app = create_app([focus_app], settings, database=focus.database, alone=True)
    async with uvicorn_serving(app) as base_url:
        yield "ws" + base_url.removeprefix("http") + f"{PREFIX}/ws/me"


async def test_the_users_socket_refuses_every_bad_token(focus: FocusWorld, me_url: str) -> None:
    owner = await focus.user()
    got = {}
    for kind, (make, _) in BAD_TOKENS.items():  # in order: the last suspends the owner
        token = await make(focus, owner)
        got[kind] = await refusal(me_url + (f"?{urlencode({'token': token})}" if token else ""))
    assert got == {kind: (CLOSE_UNAUTHENTICATED, code) for kind, (_, code) in BAD_TOKENS.items()}
