"""Who may call what: every B0 HTTP endpoint against every kind of caller.

The table lists every HTTP route of `ensemble.apps.b0.endpoints` (a guard fails when a route
is added without a row). Every row is called with no token, an expired, a forged, a foreign-
audience and a malformed token (401, nothing written) and with a valid token of a user who
never registered (404 `user_not_registered`, except POST /users). Rows naming a ticket or a
diary are called by a stranger on the owner's rows (404, exactly as for a missing id); rows
naming a room by a non-member (403, exactly as for a missing room). The room WebSocket is
covered by `test_chat.py`.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from ensemble.apps.b0.endpoints import routers
from ensemble.apps.b0.schemas import PREFIX
from ensemble.kernel.db import new_id, utcnow
from tests.apicheck import (
    assert_error,
    bearer,
    fill,
    http_routes,
    snapshot,
    tables_of,
    websocket_routes,
)
from tests.apps.b0.conftest import B0World, Traveller
from tests.apps.b0.helpers import check_in, forged_token, question


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # placeholders named as in the routes, filled from `Ids`
    body: Any = None
    registered: bool = True  # needs the caller's user to exist
    owned: str | None = None  # names a row of its owner: the 404 code for anyone else
    members_only: bool = False  # names a room: guests of the room only

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("POST", "/users", registered=False),
    Endpoint("GET", "/users/me"),
    Endpoint("PATCH", "/users/me", {"nickname": "Matrix"}),
    Endpoint("GET", "/points/transactions"),
    Endpoint("GET", "/cities"),
    Endpoint("GET", "/cities/{city_id}"),
    Endpoint("GET", "/airships"),
    Endpoint("POST", "/tickets", {"city_id": "{city_id}", "airship_id": "{airship_id}"}),
    Endpoint("GET", "/tickets"),
    Endpoint("GET", "/tickets/current"),
    Endpoint("GET", "/tickets/{ticket_id}", owned="ticket_not_found"),
    Endpoint("POST", "/tickets/{ticket_id}/cancel", owned="ticket_not_found"),
    Endpoint("GET", "/room-stays/current"),
    Endpoint("POST", "/room-stays/current/extend"),
    Endpoint("POST", "/room-stays/current/check-out"),
    Endpoint("GET", "/rooms/{room_id}/members", members_only=True),
    Endpoint("GET", "/rooms/{room_id}/messages", members_only=True),
    Endpoint("POST", "/diaries", {"title": "Day", "content": "Flew."}),
    Endpoint("GET", "/diaries"),
    Endpoint("GET", "/diaries/{diary_id}", owned="diary_not_found"),
    Endpoint("GET", "/questionnaires"),
    Endpoint("POST", "/questionnaires/{question_id}/answer", {"content": "Home"}),
]
WEBSOCKET_ROUTES = {"/ws/rooms/{room_id}"}  # see test_chat.py
REGISTERED = [e for e in ENDPOINTS if e.registered]
OWNED = [e for e in ENDPOINTS if e.owned]
MEMBERS_ONLY = [e for e in ENDPOINTS if e.members_only]


def by_id(endpoints: list[Endpoint]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("endpoint", endpoints, ids=[e.id for e in endpoints])


@dataclasses.dataclass(frozen=True)
class Ids:
    """The values filled into an endpoint's placeholders (named as in the route paths)."""

    city_id: uuid.UUID
    airship_id: uuid.UUID
    ticket_id: uuid.UUID
    room_id: uuid.UUID
    diary_id: uuid.UUID
    question_id: uuid.UUID

    @classmethod
    def missing(cls) -> Ids:
        return cls(*(new_id() for _ in dataclasses.fields(cls)))


async def call(
    world: B0World, endpoint: Endpoint, ids: Ids, headers: dict[str, str]
) -> httpx.Response:
    values = dataclasses.asdict(ids)
    return await world.client.request(
        endpoint.method,
        PREFIX + fill(endpoint.path, values),
        json=fill(endpoint.body, values),
        headers=headers,
    )


async def written(world: B0World) -> dict[str, list[str]]:
    """Every row B0 can write (its tables, the points ledger, the job outbox)."""
    return await snapshot(world.database, await tables_of(world.database, "b0", "ledger", "jobs"))


@dataclasses.dataclass(frozen=True)
class Scene:
    """`owner` has a boarding ticket and a diary, `guest` a stay in `ids.room_id`, `stranger`
    nothing; there is a city, an airship and a question."""

    ids: Ids
    owner: Traveller
    guest: Traveller
    stranger: Traveller


@pytest.fixture
async def scene(b0: B0World) -> Scene:
    city, airship = await b0.city(), await b0.airship()
    owner, guest, stranger = [await b0.traveller() for _ in range(3)]
    bought = await b0.buy(owner, city, airship)
    assert bought.status_code == 201, bought.text
    diary = await b0.client.post(
        f"{PREFIX}/diaries", json={"title": "Mine", "content": "Private."}, headers=owner.headers
    )
    assert diary.status_code == 201, diary.text
    stay = await check_in(b0, guest, city, airship)
    ids = Ids(
        city_id=city,
        airship_id=airship,
        ticket_id=uuid.UUID(bought.json()["ticket_id"]),
        room_id=stay.room_id,
        diary_id=uuid.UUID(diary.json()["diary_id"]),
        question_id=await question(b0),
    )
    return Scene(ids, owner, guest, stranger)


def test_table_lists_every_route() -> None:
    assert http_routes(routers, PREFIX) == {(e.method, e.path) for e in ENDPOINTS}
    assert websocket_routes(routers, PREFIX) == WEBSOCKET_ROUTES


def _expired(world: B0World, who: Traveller) -> str:
    return world.token(who.sub, ttl=timedelta(seconds=1), now=utcnow() - timedelta(hours=1))


# Each a token of the scene's owner (a registered user, rows of theirs in the path) but bad.
BAD_TOKENS: dict[str, tuple[Callable[[B0World, Traveller], str | None], str]] = {
    "none": (lambda world, who: None, "not_authenticated"),
    "expired": (_expired, "token_expired"),
    "forged": (lambda world, who: forged_token(who.sub), "invalid_token"),
    "wrong-audience": (lambda world, who: world.token(who.sub, audience="anon"), "invalid_token"),
    "malformed": (lambda world, who: "not.a.jwt", "invalid_token"),
}


@pytest.mark.parametrize("token_kind", list(BAD_TOKENS))
@by_id(ENDPOINTS)
async def test_unauthenticated_callers_get_401(
    b0: B0World, scene: Scene, endpoint: Endpoint, token_kind: str
) -> None:
    make, code = BAD_TOKENS[token_kind]
    token = make(b0, scene.owner)
    before = await written(b0)
    response = await call(b0, endpoint, scene.ids, bearer(token) if token else {})
    assert_error(response, 401, code)
    assert response.headers.get("www-authenticate") == "Bearer"
    assert await written(b0) == before


@by_id(REGISTERED)
async def test_a_valid_token_of_an_unregistered_user_gets_404(
    b0: B0World, scene: Scene, endpoint: Endpoint
) -> None:
    before = await written(b0)
    response = await call(b0, endpoint, scene.ids, bearer(b0.token()))
    assert_error(response, 404, "user_not_registered")
    assert await written(b0) == before


@by_id(OWNED)
async def test_another_users_row_is_404_like_a_missing_one(
    b0: B0World, scene: Scene, endpoint: Endpoint
) -> None:
    before = await written(b0)
    foreign = await call(b0, endpoint, scene.ids, scene.stranger.headers)
    missing = await call(b0, endpoint, Ids.missing(), scene.stranger.headers)
    assert_error(foreign, 404, endpoint.owned)
    assert foreign.json() == missing.json()
    assert await written(b0) == before
    mine = await call(b0, endpoint, scene.ids, scene.owner.headers)
    assert mine.status_code == 200, mine.text


@by_id(MEMBERS_ONLY)
async def test_a_non_member_gets_403_like_for_a_missing_room(
    b0: B0World, scene: Scene, endpoint: Endpoint
) -> None:
    for outsider in (scene.stranger, scene.owner):  # nowhere / still boarding
        foreign = await call(b0, endpoint, scene.ids, outsider.headers)
        missing = await call(b0, endpoint, Ids.missing(), outsider.headers)
        assert_error(foreign, 403, "not_a_member")
        assert foreign.json() == missing.json()
    member = await call(b0, endpoint, scene.ids, scene.guest.headers)
    assert member.status_code == 200, member.text
