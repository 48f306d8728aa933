"""Pieces shared by the apps' admin commands."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Annotated, Any, TypeAlias, TypeVar

import asyncpg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.bootstrap import open_database
from ensemble.kernel.db.raw import own_connection
from ensemble.settings import get_settings

T = TypeVar("T")
MIN_PASSWORD = 8
NOT_GIVEN = ""
"""`--password`'s default: ask for it (no password is this short)."""


def _read_password() -> str:
    """Asked for twice without echo on a terminal; otherwise the first line of standard
    input (piped: there is no echo to turn off, so no `getpass` warning)."""
    if sys.stdin.isatty():
        answer: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return answer
    return sys.stdin.readline().rstrip("\r\n")


def _password(value: str) -> str:
    if value == NOT_GIVEN:
        value = _read_password()
    if len(value) < MIN_PASSWORD:
        raise typer.BadParameter(f"the password needs at least {MIN_PASSWORD} characters")
    return value


AdminEmail = Annotated[str, typer.Argument(help="The admin's email")]
"""`create-admin`'s email argument."""

AdminPassword = Annotated[
    str,
    typer.Option(
        envvar="ENSEMBLE_ADMIN_PASSWORD",
        callback=_password,
        show_default=False,
        help=f"At least {MIN_PASSWORD} characters. Not given: asked for twice on a terminal,"
        " or read from the first line of standard input when it is piped",
    ),
]
"""`--password` (default `NOT_GIVEN`: then asked for, see `_read_password`)."""


def in_unit_of_work(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one unit of work on the configured (migrated) database, committed when
    it returns: the body of an admin command."""

    async def run() -> T:
        async with open_database(get_settings()) as database, database.unit_of_work() as session:
            return await work(session)

    return asyncio.run(run())


Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record]"
BulkLoad: TypeAlias = Callable[[Connection, Callable[[int], None]], Awaitable[T]]
"""A seed's loader: writes through the raw connection, calling `advance(n)` per `n` rows."""


def bulk_load(console: Console, label: str, total: int, load: BulkLoad[T]) -> T:
    """Run `load` on a raw asyncpg connection of the configured (migrated) database with a
    progress bar of `total` `label`: the body of a `seed` command. `load` opens its own
    transactions (a chunk each), so a long seed shows progress and holds no huge one."""

    async def run() -> T:
        async with open_database(get_settings()) as database:
            columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            with Progress(*Progress.get_default_columns()[:1], *columns, console=console) as bar:
                task = bar.add_task(label, total=total)
                async with own_connection(database.engine) as connection:
                    return await load(connection, lambda n: bar.advance(task, n))

    return asyncio.run(run())


async def copy_rows(
    connection: Connection,
    schema: str,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """COPY `rows` (tuples in the order of `columns`) into `schema.table`."""
    await connection.copy_records_to_table(
        table, schema_name=schema, columns=list(columns), records=rows
    )


def chunked(rows: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`rows` in slices of `size` (the last one shorter): a seed's transactions."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
