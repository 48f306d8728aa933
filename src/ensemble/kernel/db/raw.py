"""The asyncpg connection under a session, for the few hot statements written as plain SQL.

Statements sent this way run inside the session's transaction like any other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession


def asyncpg_dsn(url: str) -> str:
    """The plain `postgresql://` DSN asyncpg takes, from our SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def driver_connection(session: AsyncSession) -> Any:
    """The session's asyncpg connection (typed `Any`: asyncpg has no stubs for it here)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection
