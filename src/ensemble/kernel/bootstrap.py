"""Bring the infrastructure up: resolve the database URL (starting the embedded server if
none is configured) and apply migrations. Used by `serve`, the CLI commands and the tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ensemble.kernel.db import Database
from ensemble.kernel.embedded import EmbeddedPostgres, EmbeddedRedis
from ensemble.kernel.embedded.server import EmbeddedServer
from ensemble.settings import Settings

logger = logging.getLogger(__name__)
S = TypeVar("S", bound=EmbeddedServer)


def resolve_database(settings: Settings) -> tuple[Settings, EmbeddedPostgres | None]:
    """Settings with a concrete `database_url`, and the embedded server if one was needed."""
    return _resolve(settings, "database_url", EmbeddedPostgres(settings.data_dir / "postgres"))


def resolve_redis(settings: Settings) -> tuple[Settings, EmbeddedRedis | None]:
    """Settings with a concrete `redis_url`, and the embedded server if one was needed."""
    return _resolve(settings, "redis_url", EmbeddedRedis(settings.data_dir / "redis"))


def _resolve(settings: Settings, url_field: str, embedded: S) -> tuple[Settings, S | None]:
    """`settings` as they are when `url_field` is set; else with the URL of `embedded`,
    started (or joined) now."""
    if getattr(settings, url_field):
        return settings, None
    url = embedded.start()
    logger.info("embedded %s ready at %s", embedded.label, url)
    return settings.model_copy(update={url_field: url}), embedded


@dataclass
class Infrastructure:
    """Resolved settings plus the embedded servers this process started (to stop on exit)."""

    settings: Settings
    servers: list[EmbeddedPostgres | EmbeddedRedis]

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


def resolve_infrastructure(settings: Settings) -> Infrastructure:
    settings, postgres = resolve_database(settings)
    settings, redis = resolve_redis(settings)
    return Infrastructure(settings, [s for s in (postgres, redis) if s is not None])


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "ensemble:migrations")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


MIGRATION_LOCK = 0x656E_6D69_6772  # processes starting together migrate one at a time


def _on_connection(connection: Connection, revision: str, downgrade: bool) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    config = alembic_config()
    config.attributes["connection"] = connection
    if downgrade:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


async def migrate(engine: AsyncEngine, revision: str = "head", *, downgrade: bool = False) -> None:
    """Upgrade (or downgrade) the schema to `revision` over an async engine."""
    async with engine.begin() as connection:
        await connection.run_sync(_on_connection, revision, downgrade)


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """A migrated database for a CLI command; the embedded server keeps running afterwards."""
    resolved, _ = resolve_database(settings)
    assert resolved.database_url is not None
    database = Database(resolved.database_url, pool_size=5)
    try:
        await migrate(database.engine)
        yield database
    finally:
        await database.dispose()


def migrations_path() -> Path:
    return Path(__file__).resolve().parent.parent / "migrations"
