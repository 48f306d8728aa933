"""The asyncpg connection under a session, for the few hot statements written as plain SQL.

Statements sent this way run inside the session's transaction like any other, with
asyncpg's own prepared-statement cache and none of SQLAlchemy's per-statement work (no
compilation, execution context or result object): on a hot path that is most of the
client's CPU per statement. They do not autoflush pending ORM objects.
"""

from __future__ import annotations

from typing import Any, cast

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.pool import PoolProxiedConnection


def asyncpg_dsn(url: str) -> str:
    """The plain `postgresql://` DSN asyncpg takes, from our SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def driver_connection(session: AsyncSession) -> Any:
    """The session's asyncpg connection, as is (its transaction may not have begun yet)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def transaction_connection(session: AsyncSession) -> asyncpg.Connection[asyncpg.Record]:
    """The session's asyncpg connection, inside the session's transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it executes.
    If none has run yet, the adapter's transaction is begun here (BEGIN alone, as the
    adapter would send it), so it stays the adapter's to commit or roll back and no extra
    statement is sent. That uses the adapter's `_start_transaction`, a private method
    (SQLAlchemy 1.4 to 2.1): should it ever stop beginning the transaction, this raises
    rather than let the caller's statements commit on their own.
    """
    pooled = await session.run_sync(_pooled_connection)
    driver = cast("asyncpg.Connection[asyncpg.Record]", pooled.driver_connection)
    if not driver.is_in_transaction():
        await pooled.dbapi_connection._start_transaction()  # type: ignore[union-attr]
        if not driver.is_in_transaction():
            raise RuntimeError("the session's transaction did not begin on its connection")
    return driver


def _pooled_connection(session: Session) -> PoolProxiedConnection:
    """The session's pooled connection (autobegun and checked out on first use), taken in
    the session's own greenlet without building an async proxy for it."""
    return session.connection().connection
