"""B0's callers are cached per provider token, and forgotten when their user or identity
changes elsewhere (plain SQL here, so only the database's notice can tell the cache)."""

from __future__ import annotations

import asyncpg
from httpx import Response

from ensemble.apps.b0.auth import REALM
from ensemble.kernel.db.raw import asyncpg_dsn
from tests.apicheck import assert_error
from tests.apps.b0.conftest import B0World
from tests.authcache import live_auth_cache
from tests.polling import eventually

ME = "/api/v1/users/me"


async def test_a_caller_whose_identity_is_removed_elsewhere_is_refused_once_noticed(
    b0: B0World,
) -> None:
    cache = await live_auth_cache()
    traveller = await b0.traveller()

    async def served_and_cached() -> bool:
        response = await b0.client.get(ME, headers=traveller.headers)
        assert response.status_code == 200, response.text
        return cache.caller(REALM, traveller.token) is not None

    await eventually(served_and_cached, until=bool)

    assert b0.settings.database_url is not None
    other_process = await asyncpg.connect(asyncpg_dsn(b0.settings.database_url))
    try:
        await other_process.execute(
            "DELETE FROM b0.user_identities WHERE user_id = $1", traveller.user_id
        )
    finally:
        await other_process.close()

    refused: Response = await eventually(
        lambda: b0.client.get(ME, headers=traveller.headers),
        until=lambda response: response.status_code == 404,
    )
    assert_error(refused, 404, "user_not_registered")
