"""`ensemble stock …` admin commands: first admin, bulk seed, stock audit."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.stock import service
from ensemble.apps.stock.seed import SeedPlan, seed
from ensemble.kernel.bootstrap import open_database
from ensemble.kernel.console import NOT_GIVEN, AdminEmail, AdminPassword, in_unit_of_work
from ensemble.kernel.db.raw import own_connection
from ensemble.settings import get_settings

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

    async def run() -> list[str]:
        async with open_database(get_settings()) as database:
            columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            with Progress(*Progress.get_default_columns()[:1], *columns, console=console) as bar:
                task = bar.add_task("products", total=stores * products)
                async with own_connection(database.engine) as connection:
                    ids = await seed(connection, plan, lambda n: bar.advance(task, n))
            return [str(i) for i in ids]

    for store_id in asyncio.run(run()):
        console.print(f"store {store_id}")


@cli.command("check-stock")
def check_stock() -> None:
    """Recompute every product's stock from the log and report any drift (exit 1 if any)."""

    drift = in_unit_of_work(service.stock_drift)
    if not drift:
        console.print("no drift: current stock equals the sum of the log for every product")
        return
    table = Table("product", "store", "kept", "from log")
    for row in drift:
        table.add_row(*(str(row[k]) for k in ("product_id", "store_id", "kept", "from_log")))
    console.print(table)
    raise typer.Exit(code=1)
