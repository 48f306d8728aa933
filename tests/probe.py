"""A scratch table for kernel database tests: rows whose commit another connection can see
(or not)."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from ensemble.kernel.db import Database


async def probe_table(database: Database, name: str) -> str:
    """`public.<name>` with one uuid column `id`, created if missing; its qualified name."""
    table = f"public.{name}"
    async with database.engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE IF NOT EXISTS {table} (id uuid PRIMARY KEY)"))
    return table


async def is_stored(database: Database, table: str, row: uuid.UUID) -> bool:
    """Whether another connection sees the row (so: committed)."""
    async with database.engine.connect() as connection:
        found = await connection.scalar(
            text(f"SELECT count(*) FROM {table} WHERE id = :i"), {"i": row}
        )
    return bool(found == 1)
