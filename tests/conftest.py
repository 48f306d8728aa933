"""Test infrastructure: one real PostgreSQL for the whole session, migrated once.

With `TEST_DATABASE_URL` set the suite uses that server; otherwise it starts an embedded
PostgreSQL in a temporary directory, exactly as `ensemble serve` does. Every test starts
from empty tables (the kernel's and those of the apps it may write, `apps_written`,
truncated after each test), so tests may commit freely.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic_settings import BaseSettings
from redis.asyncio import Redis
from sqlalchemy import text

from ensemble.apps import load_app, load_apps
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database
from ensemble.kernel.embedded import EmbeddedPostgres, EmbeddedRedis
from ensemble.kernel.events.models import SCHEMA as EVENTS
from ensemble.kernel.identity.models import SCHEMA as IDENTITY
from ensemble.kernel.identity.passwords import use_hasher
from ensemble.kernel.jobs.models import SCHEMA as JOBS
from ensemble.kernel.ledger.models import SCHEMA as LEDGER
from ensemble.kernel.modules import AppModule
from ensemble.server import create_app
from ensemble.settings import Settings
from tests.lifespan import lifespan_of

TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"

use_hasher(Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1))
"""Real argon2id, at a test's cost: production keeps the library's (`kernel.identity.passwords`);
servers the tests start as processes hash at that cost."""


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", database="ensemble_test")
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        yield configured
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    url = server.start()
    yield url
    server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the session's Redis."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def settings(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=TEST_SECRET,
        data_dir=Path(tmp_path_factory.mktemp("data")),
        login_max_failures=5,
        login_max_failures_per_ip=1000,
        signup_max_per_ip=10_000,
    )


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[Database]:
    assert settings.database_url is not None
    db = Database(settings.database_url, pool_size=60, max_overflow=20)
    await migrate(db.engine)
    yield db
    await db.dispose()


KERNEL_SCHEMAS = (IDENTITY, JOBS, EVENTS, LEDGER)


async def empty_tables(db: Database, schemas: Iterable[str], keep: Iterable[str] = ()) -> None:
    """Truncate every table of `schemas` but those of `keep` (`schema.table`)."""
    kept = set(keep)
    async with db.engine.begin() as conn:
        rows = await conn.execute(
            text(
                "SELECT schemaname || '.' || tablename FROM pg_tables"
                " WHERE schemaname = ANY(:schemas)"
            ),
            {"schemas": list(schemas)},
        )
        tables = ", ".join(row[0] for row in rows if row[0] not in kept)
        if tables:
            await conn.execute(text(f"TRUNCATE {tables} CASCADE"))


@pytest.fixture
def apps_written() -> list[AppModule]:
    """The apps whose tables a test may write: every app here; an app's own tests override
    this with that app alone (they know no other app's tables)."""
    return load_apps()


@pytest.fixture(autouse=True)
async def _clean_tables(database: Database, apps_written: list[AppModule]) -> AsyncIterator[None]:
    """Every test starts from empty tables: the kernel's, and those of the apps it may write
    (but the data their migrations ship)."""
    yield
    await empty_apps(database, apps_written)


async def empty_apps(db: Database, apps: Iterable[AppModule]) -> None:
    """Empty the kernel's tables and those of `apps`, but the data their migrations ship."""
    every = list(apps)
    schemas = [*KERNEL_SCHEMAS, *(schema for app in every for schema in app.schemas)]
    await empty_tables(db, schemas, [table for app in every for table in app.reference_tables])


@asynccontextmanager
async def in_process_client(
    settings: Settings, database: Database, app: str | None = None, **app_settings: BaseSettings
) -> AsyncIterator[AsyncClient]:
    """An HTTP client on the real ASGI app (lifespan run): one app alone at the root with
    the spec's exact paths, or with `app=None` every app under its prefix; `app_settings`
    replace apps' settings from the environment (`eco=EcoSettings(…)`)."""
    modules = [load_app(app)] if app else load_apps()
    asgi = create_app(
        modules, settings, database=database, alone=app is not None, app_settings=app_settings
    )
    async with lifespan_of(asgi) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(
            transport=transport, base_url=f"http://{app or 'ensemble'}.test"
        ) as client:
            yield client


@pytest.fixture
async def stock_client(settings: Settings, database: Database) -> AsyncIterator[AsyncClient]:
    async with in_process_client(settings, database, "stock") as client:
        yield client


@pytest.fixture
async def combined_client(settings: Settings, database: Database) -> AsyncIterator[AsyncClient]:
    async with in_process_client(settings, database) as client:
        yield client
