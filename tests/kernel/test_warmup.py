"""Warm at start: the API prepares its routes, configures the ORM, loads the apps' data and
opens pool connections before its first request; a worker and a consumer process open
their connections before their first job or event."""

from __future__ import annotations

import os
from pathlib import Path

import fastapi.routing
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from ensemble.apps import load_app
from ensemble.apps.eco.domain import categories, lexicon
from ensemble.kernel.db import Database
from ensemble.kernel.warmup import CONNECTIONS
from ensemble.server import create_app
from ensemble.settings import Settings
from tests.conftest import TEST_SECRET
from tests.lifespan import lifespan_of
from tests.polling import eventually
from tests.processes import running


@pytest.fixture
def route_preparations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The routes FastAPI prepares (it does so lazily, on a router's first request)."""
    prepared: list[str] = []
    context = fastapi.routing._EffectiveRouteContext  # no public hook to observe it
    original = context.from_api_route.__func__  # type: ignore[attr-defined]

    def counting(cls: type, /, *args: object, **kwargs: object) -> object:
        prepared.append(str(kwargs.get("original_route", args[0] if args else "")))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(context, "from_api_route", classmethod(counting))
    return prepared


async def test_the_api_is_warm_before_its_first_request(
    settings: Settings, route_preparations: list[str]
) -> None:
    assert settings.database_url is not None
    database = Database(settings.database_url, pool_size=CONNECTIONS)
    categories.cache_clear()
    lexicon.cache_clear()
    app = create_app([load_app("eco")], settings, database=database, alone=True)
    try:
        async with lifespan_of(app) as manager:
            assert route_preparations, "routes prepared at start"
            assert lexicon.cache_info().currsize == 1, "the classifier's lexicon loaded"
            assert database.engine.pool.checkedin() == CONNECTIONS  # type: ignore[attr-defined]
            route_preparations.clear()
            transport = ASGITransport(app=manager.app)
            async with AsyncClient(transport=transport, base_url="http://eco.test") as client:
                response = await client.get("/api/v1/characters")
            assert response.status_code == 401
            assert route_preparations == [], "nothing left for the first request to prepare"
    finally:
        await database.dispose()


async def client_connections(database: Database) -> int:
    async with database.engine.connect() as connection:
        found = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND backend_type = 'client backend'"
            )
        )
    return int(found or 0)


@pytest.mark.parametrize("role", ["worker", "consume"])
async def test_a_background_role_opens_its_connections_before_its_first_message(
    settings: Settings, database: Database, tmp_path: Path, role: str
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "SECRET_KEY": TEST_SECRET,
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    before = await client_connections(database)
    with running(role, env):
        await eventually(
            lambda: client_connections(database),
            lambda count: count >= before + CONNECTIONS,
            timeout=60,
        )
