"""`ensemble dlq …` (also `ensemble events dlq …`): dead letters and dead jobs from the command
line, one JSON object a line."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from redis.asyncio import Redis

from ensemble.kernel.bootstrap import open_database, resolve_redis
from ensemble.kernel.events.bus import event_bus
from ensemble.kernel.events.dlq import Kind, list_dead_work, reprocess_dead_work
from ensemble.kernel.pagination import MAX_LIMIT, PageRequest
from ensemble.settings import get_settings

dlq = typer.Typer(
    help="Dead work: the consumers' dead letters and the jobs that failed for good; list and "
    "re-drive them."
)
cli = typer.Typer(help="Domain events administration.", no_args_is_help=True)
cli.add_typer(dlq, name="dlq", no_args_is_help=True)

Queue = Annotated[
    str | None, typer.Option("--queue", help="A consumer's or a job's name (default: all)")
]
KindOption = Annotated[
    Kind | None, typer.Option("--kind", help="Only dead events or only dead jobs (default: both)")
]


@dlq.command("list")
def list_command(
    queue: Queue = None,
    kind: KindOption = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="At most this many")] = 50,
) -> None:
    """Print dead letters and dead jobs not yet re-driven, oldest first, one JSON object a
    line (`kind` is `event` or `job`)."""

    async def run() -> list[str]:
        async with open_database(get_settings()) as database, database.sessionmaker() as session:
            page = await list_dead_work(session, PageRequest(None, limit), queue=queue, kind=kind)
        return [item.model_dump_json(exclude={"traceback"}) for item in page.items]

    for line in asyncio.run(run()):
        typer.echo(line)


@dlq.command("reprocess")
def reprocess_command(
    count: Annotated[int, typer.Option("--count", min=1, help="At most this many")],
    queue: Queue = None,
    kind: KindOption = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Only those whose error contains this")
    ] = None,
) -> None:
    """Re-drive dead work, oldest first: a dead letter through its stream (or topic) again,
    a dead job through the job queue; each is marked reprocessed."""
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
                chosen = await reprocess_dead_work(
                    session, bus, queue=queue, count=count, filter_reason=reason, kind=kind
                )
        finally:
            await redis.aclose()
        return len(chosen)

    typer.echo(json.dumps({"reprocessed": asyncio.run(run())}))
