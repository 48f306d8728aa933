"""The asyncpg connection under a session, for the few hot statements written as plain SQL
(and one outside any session, for bulk loads that run their own transactions).

Statements sent this way run inside the session's transaction like any other, with
asyncpg's own prepared-statement cache and none of SQLAlchemy's per-statement work (no
compilation, execution context or result object): on a hot path that is most of the
client's CPU per statement. They do not autoflush pending ORM objects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar, cast

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util.concurrency import await_, greenlet_spawn

R = TypeVar("R")


def asyncpg_dsn(url: str) -> str:
    """The plain `postgresql://` DSN asyncpg takes, from our SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def transaction_connection(session: AsyncSession) -> asyncpg.Connection[asyncpg.Record]:
    """The session's asyncpg connection, inside the session's transaction: the one way to
    send plain SQL on a session.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it executes;
    asyncpg statements sent before that would commit on their own. So if the transaction
    has not begun yet, it is begun here the way the adapter's cursors begin it (BEGIN
    alone, tracked by the adapter to commit or roll back with the session): one round trip,
    and no empty statement to carry it.
    """
    return await session.run_sync(_begun_driver_connection)


def _begun_driver_connection(session: Session) -> asyncpg.Connection[asyncpg.Record]:
    """The session's asyncpg connection (autobegun and checked out on first use) with its
    transaction begun, taken in the session's own greenlet."""
    pooled = session.connection().connection
    driver = cast("asyncpg.Connection[asyncpg.Record]", pooled.driver_connection)
    if not driver.is_in_transaction():
        # The coroutine the adapter's cursors await before their first statement (a private
        # name of SQLAlchemy's asyncpg dialect, pinned by tests/kernel/test_raw_sql.py).
        await_(pooled.dbapi_connection._start_transaction())  # type: ignore[union-attr]
        if not driver.is_in_transaction():
            raise RuntimeError("the session's transaction did not begin on its connection")
    return driver


async def read_one(session: AsyncSession, sql: str, *args: object) -> asyncpg.Record | None:
    """The first row of one read-only statement: in the session's transaction if it has
    begun one (so it sees the request's own writes), else straight on a pooled connection.

    A single statement reads one snapshot on its own, so a request whose only database work
    is this read needs no transaction: it sends neither BEGIN nor COMMIT, and no empty
    statement to begin one. Never use it to write.
    """
    return await _read(session, lambda connection: connection.fetchrow(sql, *args))


async def read_all(session: AsyncSession, sql: str, *args: object) -> list[asyncpg.Record]:
    """Every row of one read-only statement, on the connection `read_one` would use."""
    return await _read(session, lambda connection: connection.fetch(sql, *args))


async def _read(
    session: AsyncSession, read: Callable[[asyncpg.Connection[asyncpg.Record]], Awaitable[R]]
) -> R:
    """`read` on the session's transaction's connection if it has begun one, else on a
    pooled connection outside any transaction."""
    if session.in_transaction():
        return await read(await transaction_connection(session))
    engine = session.bind
    assert isinstance(engine, AsyncEngine), "the session is bound to one engine"
    async with own_connection(engine) as connection:
        return await read(connection)


@asynccontextmanager
async def own_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    """A pooled asyncpg connection outside any session, for a lone read (`read_one`) or
    work that opens its own transactions on it (bulk COPY loads). Checked out and returned
    in one trip into SQLAlchemy's core each (an engine `Connection` would take three)."""
    pooled = await greenlet_spawn(engine.sync_engine.raw_connection)
    try:
        yield cast("asyncpg.Connection[asyncpg.Record]", pooled.driver_connection)
    finally:
        await greenlet_spawn(pooled.close)
