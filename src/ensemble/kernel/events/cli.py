"""`ensemble events …`: the dead-letter store from the command line (one JSON line each)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from redis.asyncio import Redis

from ensemble.kernel.bootstrap import open_database, resolve_redis
from ensemble.kernel.events.bus import event_bus
from ensemble.kernel.events.dlq import list_dead_letters, reprocess
from ensemble.kernel.pagination import MAX_LIMIT, PageRequest
from ensemble.settings import get_settings

cli = typer.Typer(help="Domain events administration.", no_args_is_help=True)
dlq = typer.Typer(help="Dead letters of the event consumers: list and re-drive.")
cli.add_typer(dlq, name="dlq", no_args_is_help=True)

Queue = Annotated[str | None, typer.Option("--queue", help="A consumer's name (default: all)")]


@dlq.command("list")
def list_command(
    queue: Queue = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="At most this many")] = 50,
) -> None:
    """Print dead letters not yet re-driven, oldest first, one JSON object a line."""

    async def run() -> list[str]:
        async with open_database(get_settings()) as database, database.sessionmaker() as session:
            page = await list_dead_letters(session, PageRequest(None, limit), consumer=queue)
        return [item.model_dump_json(exclude={"traceback"}) for item in page.items]

    for line in asyncio.run(run()):
        typer.echo(line)


@dlq.command("reprocess")
def reprocess_command(
    count: Annotated[int, typer.Option("--count", min=1, help="At most this many")],
    queue: Queue = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Only those whose error contains this")
    ] = None,
) -> None:
    """Send dead letters through their stream (or topic) again and mark them reprocessed."""
    settings, _ = resolve_redis(get_settings())
    assert settings.redis_url is not None

    async def run() -> int:
        redis = Redis.from_url(settings.redis_url or "")
        try:
            async with (
                open_database(settings) as database,
                event_bus(settings, redis) as bus,
                database.unit_of_work() as session,
            ):
                letters = await reprocess(
                    session, bus, consumer=queue, count=count, filter_reason=reason
                )
        finally:
            await redis.aclose()
        return len(letters)

    typer.echo(json.dumps({"reprocessed": asyncio.run(run())}))
