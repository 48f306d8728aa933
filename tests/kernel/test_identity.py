"""Identity through the Stock app's HTTP API: login, throttling, refresh rotation, logout.

The kernel's identity module has no routes of its own; every realm (app) mounts them. These
tests drive the Stock realm's `/api/v1/auth/...` routes end to end against real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from ensemble.apps.stock.models import Role
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.identity import passwords
from ensemble.kernel.identity import service as identity
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.revocation import Revocations
from ensemble.settings import Settings
from tests.apicheck import serve
from tests.apps.stock import conftest as stock_fixtures
from tests.apps.stock.conftest import PASSWORD, StockWorld
from tests.conftest import in_process_client

world = stock_fixtures.world  # the Stock app's fixture, shared with this kernel module's tests
AUTH = "/api/v1/auth"


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is `status` with the one JSON error shape (and `code`, when given)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str)
    assert body["error"]["code"]
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body


async def login(world: StockWorld, email: str, password: str = PASSWORD) -> httpx.Response:
    return await world.client.post(f"{AUTH}/login", json={"email": email, "password": password})


async def login_tokens(world: StockWorld, email: str) -> dict[str, Any]:
    response = await login(world, email)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def refresh(world: StockWorld, refresh_token: str) -> httpx.Response:
    return await world.client.post(f"{AUTH}/refresh", json={"refresh_token": refresh_token})


async def me(world: StockWorld, access_token: str) -> httpx.Response:
    return await world.client.get(f"{AUTH}/me", headers={"Authorization": f"Bearer {access_token}"})


async def worker(world: StockWorld) -> tuple[uuid.UUID, str]:
    """A worker of one store: (user id, email)."""
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    user_id = await world.user(Role.WORKER, [await world.store()], email=email)
    return user_id, email


async def test_login_returns_a_bearer_pair_that_opens_me(world: StockWorld) -> None:
    user_id, email = await worker(world)
    tokens = await login_tokens(world, email)
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 60 * 60
    assert tokens["access_token"] != tokens["refresh_token"]
    who = await me(world, tokens["access_token"])
    assert who.status_code == 200, who.text
    assert who.json()["id"] == str(user_id)
    assert who.json()["role"] == "WORKER"


async def test_login_email_is_case_insensitive(world: StockWorld) -> None:
    _, email = await worker(world)
    response = await login(world, f"  {email.upper()} ")
    assert response.status_code == 200, response.text


async def test_wrong_password_and_unknown_email_answer_identically(world: StockWorld) -> None:
    _, email = await worker(world)
    wrong_password = await login(world, email, "not-the-password")
    unknown_email = await login(world, "nobody@example.com")
    body = assert_error(wrong_password, 401, "invalid_credentials")
    assert_error(unknown_email, 401)
    assert unknown_email.json() == body
    assert unknown_email.headers.get("www-authenticate") == wrong_password.headers.get(
        "www-authenticate"
    )


async def test_repeated_failures_throttle_even_the_right_password(world: StockWorld) -> None:
    _, email = await worker(world)
    for _ in range(5):  # settings fixture: login_max_failures=5
        assert_error(await login(world, email, "wrong-password"), 401, "invalid_credentials")
    throttled = await login(world, email)
    assert_error(throttled, 429, "login_throttled")
    assert throttled.headers.get("retry-after")


async def test_failures_for_one_email_do_not_throttle_another(world: StockWorld) -> None:
    _, victim = await worker(world)
    _, bystander = await worker(world)
    for _ in range(5):
        await login(world, victim, "wrong-password")
    assert (await login(world, bystander)).status_code == 200


async def test_refresh_rotates_the_pair_and_spends_the_old_token(world: StockWorld) -> None:
    _, email = await worker(world)
    first = await login_tokens(world, email)
    rotated = await refresh(world, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["token_type"] == "bearer"
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert (await me(world, second["access_token"])).status_code == 200
    assert_error(await refresh(world, first["refresh_token"]), 401)


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    world: StockWorld,
) -> None:
    _, email = await worker(world)
    first = (await login_tokens(world, email))["refresh_token"]
    second = (await refresh(world, first)).json()["refresh_token"]
    newest = (await refresh(world, second)).json()["refresh_token"]

    assert_error(await refresh(world, first), 401, "refresh_token_reused")
    assert_error(await refresh(world, newest), 401, "session_revoked")
    assert_error(await refresh(world, second), 401)


async def test_reuse_in_one_session_leaves_other_sessions_alone(world: StockWorld) -> None:
    _, email = await worker(world)
    stolen = (await login_tokens(world, email))["refresh_token"]
    other_session = (await login_tokens(world, email))["refresh_token"]
    await refresh(world, stolen)
    assert_error(await refresh(world, stolen), 401, "refresh_token_reused")
    assert (await refresh(world, other_session)).status_code == 200


async def test_logout_revokes_the_refresh_family(world: StockWorld) -> None:
    _, email = await worker(world)
    tokens = await login_tokens(world, email)
    out = await world.client.post(f"{AUTH}/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    assert out.content == b""
    assert_error(await refresh(world, tokens["refresh_token"]), 401, "session_revoked")


async def test_deactivated_user_can_neither_log_in_nor_refresh(world: StockWorld) -> None:
    user_id, email = await worker(world)
    tokens = await login_tokens(world, email)
    patched = await world.client.patch(
        f"/api/v1/users/{user_id}",
        json={"is_active": False},
        headers=await world.admin_headers(),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["is_active"] is False

    assert_error(await login(world, email), 401, "invalid_credentials")
    assert_error(await refresh(world, tokens["refresh_token"]), 401)


async def test_expired_access_token_is_token_expired(world: StockWorld) -> None:
    user_id = await world.user(Role.ADMIN)
    stale = world.token(user_id, Role.ADMIN, [], now=utcnow() - timedelta(hours=2))
    assert_error(await me(world, stale), 401, "token_expired")


async def _foreign_audience(world: StockWorld) -> str:
    return world.token(await world.user(Role.ADMIN), Role.ADMIN, [], realm="b0")


async def _refresh_token_as_access(world: StockWorld) -> str:
    _, email = await worker(world)
    token: str = (await login_tokens(world, email))["refresh_token"]
    return token


async def _wrong_signature(world: StockWorld) -> str:
    header, payload, _ = world.token(new_id(), Role.ADMIN, []).split(".")
    return f"{header}.{payload}.c2lnbmVkLWJ5LXNvbWVvbmUtZWxzZQ"


async def _garbage(_: StockWorld) -> str:
    return "not-a-jwt"


@pytest.mark.parametrize(
    "make_token",
    [_foreign_audience, _refresh_token_as_access, _wrong_signature, _garbage],
    ids=["foreign-audience", "refresh-as-access", "wrong-signature", "garbage"],
)
async def test_unusable_bearer_is_401_with_error_shape(
    world: StockWorld, make_token: Callable[[StockWorld], Any]
) -> None:
    token = await make_token(world)
    assert_error(await me(world, token), 401, "invalid_token")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}],
    ids=["missing", "basic-scheme", "empty-bearer"],
)
async def test_missing_bearer_is_401_with_error_shape(
    world: StockWorld, headers: dict[str, str]
) -> None:
    response = await world.client.get(f"{AUTH}/me", headers=headers)
    assert_error(response, 401)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/refresh", {"refresh_token": "garbage"}),
        ("/logout", {"refresh_token": "garbage"}),
    ],
)
async def test_garbage_refresh_token_is_401_with_error_shape(
    world: StockWorld, path: str, body: dict[str, str]
) -> None:
    assert_error(await world.client.post(f"{AUTH}{path}", json=body), 401, "invalid_token")


async def test_access_token_is_refused_as_refresh_token(world: StockWorld) -> None:
    _, email = await worker(world)
    tokens = await login_tokens(world, email)
    assert_error(await refresh(world, tokens["access_token"]), 401, "invalid_token")


async def test_password_is_stored_as_argon2id(world: StockWorld) -> None:
    user_id, _ = await worker(world)
    async with world.database.engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT password_hash FROM identity.accounts WHERE id = :id"),
                {"id": user_id},
            )
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


# Throttling: atomic, per (account, address) and per address, addresses from trusted proxies


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


@pytest.fixture
async def proxied(world: StockWorld, settings: Settings) -> AsyncIterator[StockWorld]:
    """The Stock world behind a trusted proxy on the loopback (the test client's address),
    so `X-Forwarded-For` names the client."""
    behind_proxy = settings.model_copy(update={"trusted_proxies": [ip_network("127.0.0.1")]})
    async with in_process_client(behind_proxy, world.database, "stock") as client:
        yield dataclasses.replace(world, client=client)


async def test_parallel_wrong_passwords_never_pass_the_limit(world: StockWorld) -> None:
    _, email = await worker(world)
    answers = await asyncio.gather(*(login(world, email, "wrong-password") for _ in range(30)))
    statuses = sorted(response.status_code for response in answers)
    assert statuses == [401] * 5 + [429] * 25  # settings fixture: login_max_failures=5
    assert_error(await login(world, email), 429, "login_throttled")


async def test_guesses_from_one_address_do_not_lock_the_owner_out_elsewhere(
    proxied: StockWorld,
) -> None:
    _, email = await worker(proxied)
    attacker, owner = from_address("203.0.113.5"), from_address("198.51.100.7")
    for _ in range(5):
        wrong = await proxied.client.post(
            f"{AUTH}/login", json={"email": email, "password": "guess"}, headers=attacker
        )
        assert_error(wrong, 401, "invalid_credentials")
    right = {"email": email, "password": PASSWORD}
    throttled = await proxied.client.post(f"{AUTH}/login", json=right, headers=attacker)
    assert_error(throttled, 429, "login_throttled")
    owners = await proxied.client.post(f"{AUTH}/login", json=right, headers=owner)
    assert owners.status_code == 200, owners.text


async def test_a_spoofed_forwarded_for_changes_nothing(
    world: StockWorld, proxied: StockWorld
) -> None:
    """Without trusted proxies the header is ignored; behind one, only the address the proxy
    appended counts (what the client put in front of it is not believed)."""
    for client, spoof in ((world, "{n}.0.0.1"), (proxied, "{n}.0.0.1, 203.0.113.9")):
        _, email = await worker(client)
        for n in range(1, 6):
            guess = {"email": email, "password": "guess"}
            headers = from_address(spoof.format(n=n))
            response = await client.client.post(f"{AUTH}/login", json=guess, headers=headers)
            assert_error(response, 401, "invalid_credentials")
        headers = from_address(spoof.format(n=99))
        right = await client.client.post(
            f"{AUTH}/login", json={"email": email, "password": PASSWORD}, headers=headers
        )
        assert_error(right, 429, "login_throttled")


async def test_many_accounts_from_one_address_hit_the_address_limit(
    world: StockWorld, settings: Settings
) -> None:
    strict = settings.model_copy(update={"login_max_failures_per_ip": 3})
    async with in_process_client(strict, world.database, "stock") as client:
        guesses = [{"email": f"nobody-{n}@example.com", "password": "guess"} for n in range(4)]
        answers = [await client.post(f"{AUTH}/login", json=guess) for guess in guesses]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 429]


# Revocation: an access token dies with its session, at once


async def test_logout_refuses_the_sessions_access_token_at_once(world: StockWorld) -> None:
    _, email = await worker(world)
    tokens, other = await login_tokens(world, email), await login_tokens(world, email)
    assert (await me(world, tokens["access_token"])).status_code == 200
    out = await world.client.post(f"{AUTH}/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    assert_error(await me(world, tokens["access_token"]), 401, "session_revoked")
    assert (await me(world, other["access_token"])).status_code == 200  # another session


async def test_refresh_reuse_refuses_every_live_access_token_of_the_family(
    world: StockWorld,
) -> None:
    _, email = await worker(world)
    first = await login_tokens(world, email)
    second = (await refresh(world, first["refresh_token"])).json()
    assert (await me(world, second["access_token"])).status_code == 200
    assert_error(await refresh(world, first["refresh_token"]), 401, "refresh_token_reused")
    for access in (first["access_token"], second["access_token"]):
        assert_error(await me(world, access), 401, "session_revoked")


async def test_a_new_password_ends_every_session_at_once(world: StockWorld) -> None:
    user_id, email = await worker(world)
    sessions = [await login_tokens(world, email) for _ in range(2)]
    patched = await world.client.patch(
        f"/api/v1/users/{user_id}",
        json={"password": "a-brand-new-password"},
        headers=await world.admin_headers(),
    )
    assert patched.status_code == 200, patched.text
    for tokens in sessions:
        assert_error(await me(world, tokens["access_token"]), 401, "session_revoked")
        assert_error(await refresh(world, tokens["refresh_token"]), 401, "session_revoked")


async def test_a_new_password_can_keep_the_session_that_set_it(
    world: StockWorld, settings: Settings, redis: Redis
) -> None:
    user_id, email = await worker(world)
    kept, ended = await login_tokens(world, email), await login_tokens(world, email)
    async with world.database.unit_of_work() as session:
        account = await session.get(Account, user_id)
        assert account is not None
        await identity.set_password(
            session,
            account,
            "a-brand-new-password",
            Revocations.of(redis, settings),
            keep=session_of(kept["access_token"]),
        )
    assert_error(await me(world, ended["access_token"]), 401, "session_revoked")
    assert_error(await refresh(world, ended["refresh_token"]), 401, "session_revoked")
    assert (await me(world, kept["access_token"])).status_code == 200
    assert (await refresh(world, kept["refresh_token"])).status_code == 200
    assert (await login(world, email, "a-brand-new-password")).status_code == 200


async def test_revoked_sessions_are_checked_in_the_database_while_redis_is_down(
    world: StockWorld, settings: Settings
) -> None:
    _, email = await worker(world)
    ended, live = await login_tokens(world, email), await login_tokens(world, email)
    await world.client.post(f"{AUTH}/logout", json={"refresh_token": ended["refresh_token"]})
    unreachable = Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=1)
    revocations = Revocations.of(unreachable, settings)
    try:
        async with world.database.unit_of_work() as session:
            found = {
                name: await revocations.is_revoked(session, session_of(tokens["access_token"]))
                for name, tokens in (("ended", ended), ("live", live))
            }
    finally:
        await unreachable.aclose()
    assert found == {"ended": True, "live": False}


def session_of(access_token: str) -> uuid.UUID:
    return uuid.UUID(jwt.decode(access_token, options={"verify_signature": False})["sid"])


async def test_token_responses_are_never_cached(world: StockWorld) -> None:
    _, email = await worker(world)
    logged_in = await login(world, email)
    refreshed = await refresh(world, logged_in.json()["refresh_token"])
    for response in (logged_in, refreshed):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"


async def test_a_real_server_ignores_a_spoofed_forwarded_for(
    world: StockWorld, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Under `ensemble serve` (uvicorn) too: its own proxy-header handling, which believes
    any loopback peer, is off."""
    _, email = await worker(world)
    with serve("stock", database_url, redis_url, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            statuses = []
            for n in range(1, 7):
                password = PASSWORD if n == 6 else "guess"
                response = await client.post(
                    f"{AUTH}/login",
                    json={"email": email, "password": password},
                    headers=from_address(f"{n}.0.0.1"),
                )
                statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429]


async def test_production_hashes_at_the_librarys_cost_while_tests_hash_cheaply() -> None:
    production = passwords._Hashing().hash("secret")
    assert production.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # argon2-cffi's default
    cheap = await passwords.hash_password("secret")
    assert cheap.startswith("$argon2id$v=19$m=1024,t=1,p=1$")  # tests/conftest.py
    assert await passwords.verify_password("secret", production)  # each hash says its cost
