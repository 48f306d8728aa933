"""Who may call what: every Casino-Club route against every kind of caller.

`ENDPOINTS` lists every HTTP route of `ensemble.apps.casino.endpoints.routers` but the open
ones (a guard fails when a route is added without a row). Each route is called with every
kind of bad token (401 in the error shape, nothing written). Then, one route at a time on a
fresh scene, the callers the route must refuse (a member below the route's rank, another
member aimed at the caller's things) get the row's status and code with nothing written,
and the caller it serves gets its success status.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from ensemble.apps.casino.endpoints import routers
from ensemble.apps.casino.schemas import PREFIX
from ensemble.kernel.identity.models import Account
from tests import apicheck
from tests.apicheck import bearer, fill, http_routes, outcome
from tests.apps.casino.conftest import PASSWORD, CasinoWorld, Member
from tests.apps.casino.scene import Scene, all_rows, build_scene
from tests.apps.casino.test_fairness_routes import verify_params


class Who(enum.StrEnum):
    """A caller, as the scene has them."""

    MEMBER = "member"  # a STANDARD member: plays, shops, owns the scene's things
    OTHER = "other"  # another member, aimed at the member's things
    ADMIN = "admin"


Refusal = tuple[int, str]
BELOW_RANK: Refusal = (403, "rank_forbidden")
ADMINS_ONLY = {Who.MEMBER: BELOW_RANK}


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # placeholders named as in the routes, filled from the scene
    body: Any = None
    ok: int = 200  # what `by` gets
    by: Who = Who.MEMBER
    refused: dict[Who, Refusal] = dataclasses.field(default_factory=dict)
    query: dict[str, str | int] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def admin(method: str, path: str, body: Any = None, ok: int = 200) -> Endpoint:
    return Endpoint(method, path, body, ok, Who.ADMIN, ADMINS_ONLY)


WEIGHTS = {"SSR": 100, "SR": 900, "R": 3000, "N": 6000}
POOLS = {"SSR": ["golden-dragon"], "SR": ["lucky-cat"], "R": ["red-seven"], "N": ["plain-chip"]}
NEW_BANNER = {
    "banner_id": "matrix",
    "name": "Matrix",
    "currency": "coins",
    "cost_single": 100,
    "cost_ten": 900,
    "hard_pity": 90,
}

ENDPOINTS = [
    # accounts
    Endpoint("GET", "/auth/me"),
    Endpoint("GET", "/auth/sessions"),
    Endpoint(
        "DELETE",
        "/auth/sessions/{session_id}",
        ok=204,
        refused={Who.OTHER: (404, "session_not_found")},
    ),
    Endpoint(
        "POST",
        "/auth/logout",
        {"refresh_token": "{refresh_token}"},
        204,
        refused={Who.OTHER: (401, "invalid_token")},  # someone else's refresh token
    ),
    admin("POST", "/admin/users/{user_id}/force-logout", ok=204),
    Endpoint("GET", "/users/{user_id}/profile"),
    Endpoint("PUT", "/users/me/time-zone", {"time_zone": "Asia/Seoul"}),
    # inventory
    Endpoint("GET", "/inventory"),
    # rewards and streaks
    admin(
        "POST",
        "/rewards",
        {
            "user_id": "{member_id}",
            "kind": "gems",
            "amount": 5,
            "reason": "matrix",
            "idempotency_key": "matrix-grant",
        },
        201,
    ),
    Endpoint("GET", "/rewards/history"),
    Endpoint("POST", "/rewards/daily"),  # claimed at sign-up: the same day again
    Endpoint("GET", "/rewards/streak"),
    admin("POST", "/admin/rewards/{reward_id}/reverse", {"reason": "matrix"}),
    # shop
    Endpoint("GET", "/shop/products"),
    Endpoint("GET", "/shop/products/{product_id}"),
    Endpoint("POST", "/shop/buy", {"product_id": "{product_id}", "idempotency_key": "m-1"}, 201),
    Endpoint("GET", "/shop/receipts"),
    Endpoint(
        "GET",
        "/shop/receipts/{purchase_id}",
        refused={Who.OTHER: (404, "purchase_not_found")},
    ),
    admin(
        "POST",
        "/admin/shop/products",
        {
            "product_id": "t-matrix",
            "name": "Matrix",
            "kind": "item_package",
            "price_currency": "coins",
            "base_price": 10,
            "contents": {"items": {"streak-shield": 1}},
        },
        201,
    ),
    admin("PATCH", "/admin/shop/products/{product_id}", {"name": "Renamed"}),
    admin("PUT", "/admin/shop/products/{product_id}/enabled", {"enabled": False}),
    admin(
        "POST",
        "/admin/shop/promo-codes",
        {"code": "MATRIX10", "kind": "percent", "percent_off": 10},
        201,
    ),
    admin("POST", "/admin/shop/purchases/{purchase_id}/refund", {"reason": "matrix"}),
    # fairness
    Endpoint("GET", "/fairness"),
    Endpoint("PUT", "/fairness/client-seed", {"client_seed": "matrix-seed"}),
    Endpoint("POST", "/fairness/rotate"),
    Endpoint("GET", "/fairness/seeds"),
    Endpoint("GET", "/fairness/verify", query=verify_params()),
    # slot
    Endpoint("GET", "/games/slot/paytable"),
    Endpoint("POST", "/games/slot/spin", {"bet": 10}),
    Endpoint("POST", "/actions/SLOT_SPIN", {"bet": 10}),
    # gacha
    Endpoint("GET", "/gacha/banners"),
    Endpoint("GET", "/gacha/banners/{banner_id}/rates"),
    Endpoint("POST", "/gacha/spin", {"banner_id": "{banner_id}", "count": 1}),
    Endpoint("GET", "/gacha/history"),
    admin(
        "POST",
        "/admin/gacha/banners/{banner_id}/rate-tables",
        {"effective_from": "2099-01-01T00:00:00Z", "weights": WEIGHTS, "pools": POOLS},
        201,
    ),
    # actions
    Endpoint("POST", "/actions", {"action_type": "PAGE_VIEW", "context": {"page": "lobby"}}, 201),
    Endpoint("GET", "/actions/me"),
    Endpoint("GET", "/action-types"),
    admin("POST", "/admin/action-types", {"code": "MATRIX_TAP"}, 201),
    # game sessions (the member's slot session is open), stats, boards, achievements
    Endpoint("POST", "/games/session/start", {"game_type": "slot"}),  # the open one
    Endpoint("POST", "/games/session/end"),
    Endpoint("GET", "/games/session/current"),
    Endpoint("GET", "/games/stats/{user_id}"),
    Endpoint("GET", "/games/leaderboard", query={"around_me": "true"}),
    Endpoint("GET", "/games/achievements/{user_id}"),
    # responsible play
    Endpoint("GET", "/responsible-play/limits"),
    Endpoint(
        "PUT",
        "/responsible-play/limits",
        {"limits": [{"kind": "spend", "period": "day", "currency": "coins", "amount": 500}]},
    ),
    Endpoint("PUT", "/responsible-play/reality-check", {"interval_minutes": 30}),
    Endpoint("POST", "/responsible-play/cool-off", {"duration": "24h"}),
    Endpoint("POST", "/responsible-play/self-exclusion", {"duration": "6m"}),
    # age-gated unlock: off by default (`test_unlock` serves it switched on)
    Endpoint("POST", "/unlock/verify", {"jurisdiction": "KR", "birth_date": "1990-05-01"}, 404),
    Endpoint("POST", "/unlock", {"content_id": "after-dark", "stage": "teaser"}, 404),
    Endpoint("GET", "/unlock/contents", ok=404),
    # admin (B6): members, catalogue, invites, audit, events debug
    admin("GET", "/admin/users"),
    admin("GET", "/admin/users/{user_id}"),
    admin("PATCH", "/admin/users/{user_id}", {"rank": "PREMIUM", "reason": "matrix"}),
    admin("DELETE", "/admin/users/{user_id}", ok=204),
    admin("GET", "/admin/users/{user_id}/actions"),
    admin("GET", "/admin/gacha/banners"),
    admin("POST", "/admin/gacha/banners", NEW_BANNER, 201),
    admin("PATCH", "/admin/gacha/banners/{banner_id}", {"close": True}),
    admin("GET", "/admin/shop/products"),
    admin("GET", "/admin/shop/promo-codes"),
    admin("POST", "/admin/shop/promo-codes/{promo_code}/deactivate"),
    admin("GET", "/admin/invites"),
    admin("POST", "/admin/invites", {"count": 2}, 201),
    admin("GET", "/admin/audit"),
    admin("GET", "/admin/events/health"),
    admin("POST", "/admin/events/produce", {"message": "matrix"}, 201),
    admin("GET", "/admin/events/last"),
    # segments (B1): recommendations and their rules, the quiz
    Endpoint("GET", "/recommend/personalized"),
    admin("GET", "/admin/recommendation-rules"),
    admin(
        "POST",
        "/admin/recommendation-rules",
        {
            "segment": "MEDIUM",
            "kind": "mission",
            "ref": "matrix",
            "title": "Matrix",
            "rank": 5,
            "promotional": False,
        },
        201,
    ),
    admin("GET", "/admin/recommendation-rules/{rule_id}"),
    admin("PATCH", "/admin/recommendation-rules/{rule_id}", {"rank": 7}),
    admin("DELETE", "/admin/recommendation-rules/{rule_id}", ok=204),
    Endpoint(
        "POST",
        "/quiz/submit",
        {
            "consent": True,
            "survey": {"motivation": "fun", "session_length": "long"},
            "self_check": [0] * 9,
        },
        201,
    ),
    Endpoint("GET", "/quiz/me"),
    # campaigns (B6)
    admin(
        "POST",
        "/admin/campaigns",
        {
            "title": "Matrix",
            "segment": "WHALE",
            "promotional": True,
            "send_at": "2099-01-01T00:01:00Z",
        },
        201,
    ),
    admin("GET", "/admin/campaigns"),
    admin("GET", "/admin/campaigns/{campaign_id}"),
    admin("POST", "/admin/campaigns/{campaign_id}/cancel"),
    # VIP, missions, feedback (B3)
    Endpoint("GET", "/vip/status"),
    Endpoint("GET", "/vip/tiers"),
    Endpoint("GET", "/vip/history"),
    Endpoint("GET", "/missions"),
    Endpoint(
        "POST",
        "/missions/{key}/claim",
        refused={Who.OTHER: (409, "mission_not_completed")},  # done by the member alone
    ),
    admin("GET", "/admin/missions"),
    admin(
        "POST",
        "/admin/missions",
        {
            "key": "matrix",
            "title": "Matrix",
            "action_type": "LOGIN",
            "target": 1,
            "window": "once",
            "reward_kind": "coins",
            "reward_amount": 5,
        },
        201,
    ),
    admin("GET", "/admin/missions/{key}"),
    admin("PATCH", "/admin/missions/{key}", {"title": "Renamed"}),
    admin("DELETE", "/admin/missions/{key}", ok=204),
    Endpoint("GET", "/feedback", query={"action_type": "LOGIN"}),
    # notifications (in tests an SSE stream ends at once: `STREAM_SECONDS` in the conftest;
    # the WebSocket's refusals are in `test_notification_streams.py`)
    Endpoint("GET", "/notifications", query={"unread": "true"}),
    Endpoint("GET", "/notifications/unread-count"),
    Endpoint("POST", "/notifications/read", {"ids": [1]}),
    Endpoint("POST", "/notifications/read-all"),
    Endpoint("GET", "/notifications/settings"),
    Endpoint("PUT", "/notifications/settings", {"muted_live": ["campaign"]}),
    Endpoint("GET", "/notifications/stream"),
]
OPEN_ROUTES = {
    ("GET", "/auth/check-invite/{code}"),  # before there is an account
    ("POST", "/auth/signup"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),  # the refresh token is the credential
    ("POST", "/shop/webhooks/{provider}"),  # signed by the provider (`test_shop_payments`)
}

SERVED = http_routes(routers, PREFIX)


def test_the_matrix_lists_every_route() -> None:
    listed = {e.key for e in ENDPOINTS}
    assert len(listed) == len(ENDPOINTS), "a route listed twice"
    assert listed == SERVED - OPEN_ROUTES
    assert SERVED >= OPEN_ROUTES


# Calls


async def call(
    casino: CasinoWorld, endpoint: Endpoint, values: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    return await casino.client.request(
        endpoint.method,
        PREFIX + fill(endpoint.path, values),
        json=fill(endpoint.body, values),
        params=endpoint.query,
        headers=headers,
    )


async def call_as(
    casino: CasinoWorld, scene: Scene, endpoint: Endpoint, who: Who
) -> httpx.Response:
    person: Member = getattr(scene, who.value)
    values = {**scene.values, "refresh_token": scene.member.refresh_token}
    return await call(casino, endpoint, values, person.headers)


@pytest.fixture
async def scene(casino: CasinoWorld) -> Scene:
    return await build_scene(casino)


# Tokens


mint = functools.partial(apicheck.mint, realm="casino")
"""An access token of casino (or of `realm=`), as its login issues them."""


async def logged_out(casino: CasinoWorld, member: Member) -> str:
    """The access token of a session of `member` that has ended."""
    tokens = await casino.login(member.nickname, PASSWORD)
    out = await casino.client.post(
        f"{PREFIX}/auth/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens["access_token"]),
    )
    assert out.status_code == 204, out.text
    token: str = tokens["access_token"]
    return token


async def disabled(casino: CasinoWorld, member: Member) -> str:
    """A live token of `member` once the account is disabled."""
    async with casino.database.unit_of_work() as session:
        await session.execute(
            update(Account).where(Account.id == member.user_id).values(is_active=False)
        )
    return member.access_token


TokenMaker = Callable[[CasinoWorld, Member], Awaitable[str | None]]


def made(make: Callable[[CasinoWorld, Member], str | None]) -> TokenMaker:
    async def maker(casino: CasinoWorld, member: Member) -> str | None:
        return make(casino, member)

    return maker


LIFETIME = timedelta(hours=2)
BAD_TOKENS: dict[str, tuple[TokenMaker, str]] = {
    "none": (made(lambda casino, member: None), "not_authenticated"),
    "garbage": (made(lambda casino, member: "not-a-token"), "invalid_token"),
    "forged": (
        made(lambda casino, member: mint(casino, member.user_id, secret="x" * 48)),
        "invalid_token",
    ),
    "expired": (
        made(lambda casino, member: mint(casino, member.user_id, age=LIFETIME)),
        "token_expired",
    ),
    "focus": (
        made(lambda casino, member: mint(casino, member.user_id, realm="focus", role="ADMIN")),
        "invalid_token",
    ),
    "stock": (
        made(
            lambda casino, member: mint(
                casino, member.user_id, realm="stock", role="ADMIN", stores=[]
            )
        ),
        "invalid_token",
    ),
    "refresh": (made(lambda casino, member: member.refresh_token), "invalid_token"),
    "logged-out": (logged_out, "session_revoked"),
    "disabled": (disabled, "account_disabled"),
}
"""Each a bad token naming the scene's member (or none), and the error code it gets."""


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_a_bad_token_is_401_on_every_route_and_writes_nothing(
    casino: CasinoWorld, scene: Scene, kind: str
) -> None:
    make, code = BAD_TOKENS[kind]
    token = await make(casino, scene.admin)
    headers = bearer(token) if token is not None else {}
    values = {**scene.values, "refresh_token": scene.member.refresh_token}
    before = await all_rows(casino.database)
    got = {}
    for e in ENDPOINTS:
        response = await call(casino, e, values, headers)
        got[e.id] = (*outcome(response), response.headers.get("www-authenticate"))
    assert got == {e.id: (401, code, "Bearer") for e in ENDPOINTS}
    assert await all_rows(casino.database) == before


# Callers with a valid token


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.id for e in ENDPOINTS])
async def test_each_route_refuses_whom_it_must_and_serves_whom_it_may(
    casino: CasinoWorld, scene: Scene, endpoint: Endpoint
) -> None:
    before = await all_rows(casino.database)
    got = {who: outcome(await call_as(casino, scene, endpoint, who)) for who in endpoint.refused}
    assert got == endpoint.refused
    assert await all_rows(casino.database) == before

    served = await call_as(casino, scene, endpoint, endpoint.by)
    assert served.status_code == endpoint.ok, served.text
