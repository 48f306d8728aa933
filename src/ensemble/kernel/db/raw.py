"""The asyncpg connection under a session, for the few hot statements written as plain SQL.

Statements sent this way run inside the session's transaction like any other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


async def driver_connection(session: AsyncSession) -> Any:
    """The session's asyncpg connection (typed `Any`: asyncpg has no stubs for it here)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection
