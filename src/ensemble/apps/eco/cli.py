"""`ensemble eco …` admin commands: first admin, read-model rebuild, centre import."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from redis.asyncio import Redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco import service
from ensemble.apps.eco.locations import service as locations
from ensemble.apps.eco.models import Role
from ensemble.apps.eco.read_models import PROJECTIONS
from ensemble.kernel.bootstrap import open_database, resolve_redis
from ensemble.kernel.console import NOT_GIVEN, AdminEmail, AdminPassword, in_unit_of_work
from ensemble.kernel.db import Database
from ensemble.kernel.events.projection import Projection, count_stored, rebuild
from ensemble.settings import get_settings

cli = typer.Typer(help="ECO² administration.", no_args_is_help=True)
console = Console()


@cli.command("create-admin")
def create_admin(
    email: AdminEmail,
    password: AdminPassword = NOT_GIVEN,
) -> None:
    """Create an ADMIN account (there is no open endpoint for it)."""

    async def create(session: AsyncSession) -> str:
        account, _ = await service.sign_up(session, email=email, password=password, role=Role.ADMIN)
        return str(account.id)

    console.print(f"admin {email} created with id {in_unit_of_work(create)}")


@cli.command("rebuild-read-models")
def rebuild_read_models() -> None:
    """Rebuild every ECO² read model from the event store; readers keep the old one until
    each new one is complete."""
    settings, _ = resolve_redis(get_settings())
    assert settings.redis_url is not None

    async def run() -> None:
        redis = Redis.from_url(settings.redis_url or "")
        try:
            async with open_database(settings) as database:
                for projection in PROJECTIONS:
                    await _rebuild_with_progress(database, redis, projection)
        finally:
            await redis.aclose()

    asyncio.run(run())


async def _rebuild_with_progress(database: Database, redis: Redis, projection: Projection) -> None:
    async with database.sessionmaker() as session:
        total = await count_stored(session, projection)
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*Progress.get_default_columns()[:1], *columns, console=console) as bar:
        task = bar.add_task(projection.name, total=total)
        async with database.sessionmaker() as session:
            result = await rebuild(
                session, redis, projection, progress=lambda n: bar.update(task, completed=n)
            )
    console.print(
        f"{projection.name}: {result.applied} events into generation {result.generation}"
        f" in {result.seconds:.2f} s"
    )


@cli.command("import-locations")
def import_locations(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A .csv or .geojson file")
    ],
) -> None:
    """Insert or update recycling centres (by `external_id`) from CSV or GeoJSON; invalid
    records are listed and skipped."""
    fmt = "geojson" if path.suffix.lower() in {".geojson", ".json"} else "csv"
    report = locations.ImportReport()
    text = path.read_text("utf-8-sig")  # a spreadsheet's CSV starts with a byte-order mark
    records = list(locations.validate(locations.read_records(text, fmt), report))

    async def upsert(session: AsyncSession) -> None:
        with Progress(console=console) as bar:
            task = bar.add_task("centres", total=len(records))
            for batch in locations.batches(records):
                await locations.upsert(session, batch)
                report.imported += len(batch)
                bar.update(task, completed=report.imported)

    in_unit_of_work(upsert)
    console.print(f"imported {report.imported} centres; rejected {len(report.rejected)}")
    for rejected in report.rejected:
        console.print(rejected)
    if report.rejected:
        raise typer.Exit(1)
