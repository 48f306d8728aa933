"""The one Alembic history upgrades, downgrades to nothing and upgrades again cleanly."""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database


async def _schemas(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT schema_name FROM information_schema.schemata"
                " WHERE schema_name IN ('identity', 'stock')"
            )
        )
        return {row[0] for row in rows}


async def test_upgrade_downgrade_upgrade_round_trip(database: Database, database_url: str) -> None:
    scratch = "ensemble_migration_roundtrip"
    async with database.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"DROP DATABASE IF EXISTS {scratch}"))
        await conn.execute(text(f"CREATE DATABASE {scratch}"))
    db = Database(
        make_url(database_url).set(database=scratch).render_as_string(hide_password=False),
        pool_size=1,
    )
    try:
        await migrate(db.engine)
        assert await _schemas(db) == {"identity", "stock"}
        await migrate(db.engine, "base", downgrade=True)
        assert await _schemas(db) == set()
        await migrate(db.engine)
        assert await _schemas(db) == {"identity", "stock"}
        async with db.engine.connect() as conn:
            triggers = await conn.execute(
                text(
                    "SELECT count(*) FROM pg_trigger"
                    " WHERE tgname IN ('touch_change', 'append_only')"
                )
            )
            assert triggers.scalar_one() == 4
    finally:
        await db.dispose()
        async with database.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"DROP DATABASE IF EXISTS {scratch}"))


async def test_migrations_match_the_models(database: Database) -> None:
    """Every model change has its migration: autogenerate finds nothing left to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ensemble.migrations.metadata import include_name, schemas, target_metadata

    metadata = target_metadata()

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": include_name,
                "compare_type": True,
                "target_metadata": metadata,
            },
        )
        return list(compare_metadata(context, metadata))

    async with database.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert schemas() >= {"identity", "stock", "jobs", "ledger", "b0"}
    assert changes == []
