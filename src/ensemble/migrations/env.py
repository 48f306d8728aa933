"""Alembic environment: one history for every app, each app's tables in its own schema."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from ensemble.apps import APP_NAMES
from ensemble.kernel.db import Base

KERNEL_MODELS = ("identity", "jobs", "ledger")
for module in [f"ensemble.kernel.{k}.models" for k in KERNEL_MODELS] + [
    f"ensemble.apps.{name}.models" for name in APP_NAMES
]:
    __import__(module)

target_metadata = Base.metadata
SCHEMAS = {table.schema for table in target_metadata.tables.values()}


def _include_name(name: str | None, type_: str, _parent: object) -> bool:
    return type_ != "schema" or name in SCHEMAS


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_schemas=True,
        include_name=_include_name,
        version_table_schema="public",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url or pass a connection"
    asyncio.run(_run_async(url))


run_migrations_online()
