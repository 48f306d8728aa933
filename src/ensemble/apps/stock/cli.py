"""`ensemble stock …` admin commands: first admin, bulk seed, stock audit.

The bulk seed's loader is here too (used by `seed` and by `bench/`): COPY straight into the
tables, in chunks. Every product gets an opening `IN` transaction equal to its stock, so the
log and the kept stock agree from the first row (`check-stock` finds no drift).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.stock import service
from ensemble.apps.stock.inventory import service as inventory
from ensemble.apps.stock.models import TransactionType
from ensemble.kernel.console import (
    NOT_GIVEN,
    AdminEmail,
    AdminPassword,
    Connection,
    bulk_load,
    copy_rows,
    in_unit_of_work,
)
from ensemble.kernel.db import new_id, utcnow

cli = typer.Typer(help="DDon-DDon Stock administration.", no_args_is_help=True)
console = Console()


@cli.command("create-admin")
def create_admin(
    email: AdminEmail,
    password: AdminPassword = NOT_GIVEN,
    name: Annotated[str, typer.Option(help="Display name")] = "Administrator",
) -> None:
    """Create the first ADMIN (there is no open endpoint for it)."""

    async def create(session: AsyncSession) -> str:
        view = await service.create_admin(session, email=email, password=password, name=name)
        return str(view.user.id)

    console.print(f"admin {email} created with id {in_unit_of_work(create)}")


@cli.command("seed")
def seed_command(
    stores: Annotated[int, typer.Option(min=1, help="Stores to create")] = 1,
    products: Annotated[int, typer.Option(min=0, help="Products per store")] = 1000,
) -> None:
    """Bulk-load demo stores and products (with opening stock) as fast as COPY allows."""
    plan = SeedPlan(stores=stores, products_per_store=products)
    store_ids = bulk_load(
        console,
        "products",
        stores * products,
        lambda connection, advance: seed(connection, plan, advance),
    )
    for store_id in store_ids:
        console.print(f"store {store_id}")


@cli.command("check-stock")
def check_stock() -> None:
    """Recompute every product's stock from the log and report any drift (exit 1 if any)."""

    drift = in_unit_of_work(inventory.stock_drift)
    if not drift:
        console.print("no drift: current stock equals the sum of the log for every product")
        return
    table = Table("product", "store", "kept", "from log")
    for row in drift:
        table.add_row(*(str(row[k]) for k in ("product_id", "store_id", "kept", "from_log")))
    console.print(table)
    raise typer.Exit(code=1)


# The bulk seed

CHUNK = 50_000
CATEGORY_NAMES = ("Drinks", "Snacks", "Household", "Fresh", "Frozen", "Stationery")


@dataclass(frozen=True)
class SeedPlan:
    stores: int
    products_per_store: int
    seed: int = 7


def barcode_for(store_index: int, product_index: int) -> str:
    return f"{880 + store_index % 100:03d}{product_index:010d}"


def _product_rows(
    store_id: uuid.UUID,
    store_index: int,
    categories: list[uuid.UUID],
    start: int,
    stop: int,
    now: datetime,
    rng: random.Random,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    products, stock, transactions = [], [], []
    for index in range(start, stop):
        product_id = new_id()
        quantity = rng.randint(0, 200)
        products.append(
            (
                product_id,
                store_id,
                barcode_for(store_index, index),
                f"Product {index:07d}",
                categories[index % len(categories)],
                rng.randint(500, 50_000),
                rng.randint(0, 20),
                now,
                now,
                "",
                "",
                None,
                now,
            )
        )
        stock.append((product_id, store_id, quantity, now))
        if quantity:
            transactions.append(
                (
                    new_id(),
                    store_id,
                    product_id,
                    TransactionType.IN.value,
                    quantity,
                    quantity,
                    "opening stock",
                    now,
                    now,
                    now,
                    "seed",
                    None,
                )
            )
    return products, stock, transactions


PRODUCT_COLUMNS = (
    "id",
    "store_id",
    "barcode",
    "name",
    "category_id",
    "unit_price",
    "safety_stock",
    "created_at",
    "updated_at",
    "updated_by",
    "version_digest",
    "deleted_at",
    "synced_at",
)
STOCK_COLUMNS = ("product_id", "store_id", "quantity", "updated_at")
TRANSACTION_COLUMNS = (
    "id",
    "store_id",
    "product_id",
    "type",
    "quantity",
    "delta",
    "reason",
    "occurred_at",
    "created_at",
    "synced_at",
    "device_id",
    "user_id",
)


async def seed(
    connection: Connection, plan: SeedPlan, advance: Callable[[int], None]
) -> list[uuid.UUID]:
    """Load `plan` through a raw asyncpg connection of its own (no session's), each store and
    each chunk of products in a transaction; `advance(n)` reports products written."""
    rng = random.Random(plan.seed)
    now = utcnow()
    store_ids = []
    for store_index in range(plan.stores):
        store_id = new_id()
        store_ids.append(store_id)
        categories = [new_id() for _ in CATEGORY_NAMES]
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO stock.stores"
                " (id, name, address, allow_negative_stock, created_at, updated_at)"
                " VALUES ($1, $2, $3, false, $4, $4)",
                store_id,
                f"Store {store_index + 1}",
                f"{store_index + 1} Market Street",
                now,
            )
            await _copy(
                connection,
                "categories",
                ("id", "store_id", "name", "created_at", "updated_at"),
                [
                    (category_id, store_id, name, now, now)
                    for category_id, name in zip(categories, CATEGORY_NAMES, strict=True)
                ],
            )
        for start, stop in _chunks(plan.products_per_store):
            products, stock, transactions = _product_rows(
                store_id, store_index, categories, start, stop, now, rng
            )
            async with connection.transaction():
                await _copy(connection, "products", PRODUCT_COLUMNS, products)
                await _copy(connection, "current_stock", STOCK_COLUMNS, stock)
                await _copy(connection, "inventory_transactions", TRANSACTION_COLUMNS, transactions)
            advance(stop - start)
    await connection.execute("ANALYZE stock.products; ANALYZE stock.current_stock")
    return store_ids


async def _copy(
    connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    await copy_rows(connection, "stock", table, columns, rows)


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, CHUNK):
        yield start, min(start + CHUNK, total)
