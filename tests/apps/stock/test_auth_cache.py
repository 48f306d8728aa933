"""The auth cache never outlives the truth: what another process commits (plain SQL here, so
this process's ORM hooks see nothing) reaches the cache through PostgreSQL's notices, and
notices missed while the listener was down leave nothing stale behind."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from httpx import Response

from ensemble.apps.stock.auth import REALM
from ensemble.apps.stock.models import Role
from ensemble.kernel.db.raw import asyncpg_dsn
from ensemble.kernel.identity.cache import LISTENER_NAME, AuthCache
from ensemble.settings import Settings
from tests.apps.stock.conftest import PASSWORD, StockWorld
from tests.polling import eventually

API = "/api/v1"


@pytest.fixture
async def other_process(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own, standing for another process writing to the database."""
    assert settings.database_url is not None
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    yield connection
    await connection.close()


async def refused_eventually(
    world: StockWorld, path: str, headers: dict[str, str], status: int, code: str
) -> None:
    """`path` answers `status` with error `code` before the deadline (once the notice of a
    change made elsewhere has reached the cache)."""
    refused: Response = await eventually(
        lambda: world.client.get(path, headers=headers),
        until=lambda response: response.status_code == status,
    )
    assert refused.json()["error"]["code"] == code


async def cached_after(world: StockWorld, cache: AuthCache, path: str, token: str) -> None:
    """Call `path` as `token` until the cache holds the caller (the notices of the set-up's
    own writes arrive after it and may empty the cache once more)."""

    async def served_and_cached() -> bool:
        response = await world.client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return cache.caller(REALM, token) is not None

    await eventually(served_and_cached, until=bool)


async def test_a_session_revoked_elsewhere_is_refused_once_its_notice_arrives(
    world: StockWorld, other_process: asyncpg.Connection
) -> None:
    cache = await world.live_auth_cache()
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    user_id = await world.user(Role.ADMIN, email=email)
    login = await world.client.post(
        f"{API}/auth/login", json={"email": email, "password": PASSWORD}
    )
    token = login.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    await cached_after(world, cache, f"{API}/auth/me", token)

    await other_process.execute(
        "UPDATE identity.refresh_tokens SET revoked_at = now() WHERE account_id = $1", user_id
    )

    await refused_eventually(world, f"{API}/auth/me", headers, 401, "session_revoked")


async def test_a_role_taken_elsewhere_applies_once_its_notice_arrives(
    world: StockWorld, other_process: asyncpg.Connection
) -> None:
    cache = await world.live_auth_cache()
    boss_id = await world.user(Role.ADMIN)
    boss = world.headers(boss_id, Role.ADMIN, [])
    await cached_after(world, cache, f"{API}/users", boss["Authorization"].removeprefix("Bearer "))

    await other_process.execute("UPDATE stock.users SET role = 'WORKER' WHERE id = $1", boss_id)

    await refused_eventually(world, f"{API}/users", boss, 403, "role_forbidden")


async def test_a_store_taken_away_elsewhere_is_refused_once_its_notice_arrives(
    world: StockWorld, other_process: asyncpg.Connection
) -> None:
    cache = await world.live_auth_cache()
    store = await world.store()
    worker_id = await world.user(stores=[store])
    worker = world.headers(worker_id, Role.WORKER, [store])
    token = worker["Authorization"].removeprefix("Bearer ")
    await cached_after(world, cache, f"{API}/stores/{store}", token)

    await other_process.execute("DELETE FROM stock.user_stores WHERE user_id = $1", worker_id)

    await refused_eventually(world, f"{API}/stores/{store}", worker, 403, "store_forbidden")


async def test_a_change_made_while_the_listener_was_down_leaves_nothing_stale(
    world: StockWorld, other_process: asyncpg.Connection
) -> None:
    """The notice of a change made while the cache's listener is cut off is lost; the cache
    is emptied when the listener goes and comes back empty, so the change still applies."""
    cache = await world.live_auth_cache()
    boss_id = await world.user(Role.ADMIN)
    boss = world.headers(boss_id, Role.ADMIN, [])
    await cached_after(world, cache, f"{API}/users", boss["Authorization"].removeprefix("Bearer "))

    cut = await other_process.fetchval(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = $1) AS cut",
        LISTENER_NAME,
    )
    assert cut >= 1, "the cache's listener connection was found and cut"
    await other_process.execute("UPDATE stock.users SET role = 'WORKER' WHERE id = $1", boss_id)

    await eventually(lambda: _answer(cache.live), until=lambda live: not live)
    await eventually(lambda: _answer(cache.live), until=bool, timeout=30.0)
    refused = await world.client.get(f"{API}/users", headers=boss)
    assert refused.status_code == 403, "the role taken while the listener was down applies"


async def _answer(value: bool) -> bool:
    return value


async def test_a_grant_loaded_while_its_realm_changed_is_not_kept() -> None:
    """A load that raced a change may have read the old rows: it is answered, not kept."""
    cache = AuthCache(timedelta(minutes=5))
    cache.live = True
    loads = 0

    async def load_racing_a_change() -> str:
        nonlocal loads
        loads += 1
        cache.forget(REALM)  # the realm's tables changed while this load read them
        return "read before the change"

    assert await cache.grant(REALM, "key", load_racing_a_change) == "read before the change"
    assert await cache.grant(REALM, "key", load_racing_a_change) == "read before the change"
    assert loads == 2, "the raced value was not kept"

    async def load_quietly() -> str:
        nonlocal loads
        loads += 1
        return "fresh"

    assert await cache.grant(REALM, "other", load_quietly) == "fresh"
    assert await cache.grant(REALM, "other", load_quietly) == "fresh"
    assert loads == 3, "an undisturbed load is kept"
