"""The admin commands, run as real processes against the test database."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import func, select, text

from ensemble.apps.stock.models import InventoryTransaction, Product, Store
from ensemble.kernel.db import Database
from tests.conftest import TEST_SECRET


def _ensemble(
    database_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ensemble", *args],
        env={**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def test_create_admin_then_login(database_url: str, database: Database) -> None:
    created = _ensemble(
        database_url,
        "stock",
        "create-admin",
        "Boss@Example.com",
        env={"ENSEMBLE_ADMIN_PASSWORD": "boss-password"},
    )
    assert created.returncode == 0, created.stderr
    async with database.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT u.role, a.email FROM stock.users u"
                    " JOIN identity.accounts a ON a.id = u.id"
                )
            )
        ).one()
    assert tuple(row) == ("ADMIN", "boss@example.com")
    again = _ensemble(
        database_url,
        "stock",
        "create-admin",
        "boss@example.com",
        env={"ENSEMBLE_ADMIN_PASSWORD": "boss-password"},
    )
    assert again.returncode != 0
    short = _ensemble(
        database_url,
        "stock",
        "create-admin",
        "x@example.com",
        env={"ENSEMBLE_ADMIN_PASSWORD": "short"},
    )
    assert short.returncode != 0


async def test_seed_then_check_stock_finds_no_drift_until_tampered(
    database_url: str, database: Database
) -> None:
    seeded = _ensemble(database_url, "stock", "seed", "--stores", "2", "--products", "1500")
    assert seeded.returncode == 0, seeded.stderr
    async with database.unit_of_work() as session:
        assert (await session.execute(select(func.count()).select_from(Store))).scalar_one() == 2
        assert (
            await session.execute(select(func.count()).select_from(Product))
        ).scalar_one() == 3000
        assert (
            await session.execute(select(func.count()).select_from(InventoryTransaction))
        ).scalar_one() > 0
    clean = _ensemble(database_url, "stock", "check-stock")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no drift" in clean.stdout
    async with database.unit_of_work() as session:
        await session.execute(
            text(
                "UPDATE stock.current_stock SET quantity = quantity + 1"
                " WHERE product_id = (SELECT id FROM stock.products ORDER BY id LIMIT 1)"
            )
        )
    drifted = _ensemble(database_url, "stock", "check-stock")
    assert drifted.returncode == 1
    assert "from log" in drifted.stdout
