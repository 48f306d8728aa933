"""Retention soak: the event and job tables and the event stream stay flat while work flows.

For `--seconds`, a producer commits `--rate` events/s through `publish`, each transaction
also writing a job outbox row as relayed (what `enqueue` + the scheduler's relay leave
behind); the relay (`relay_once`) publishes the events to their Redis Stream and a
`ConsumerRunner` handles them (one processed-event record each). Every `--every` seconds
the kernel's retention jobs run (`events.prune`, `events.trim_streams`,
`jobs.prune_outbox`), with every age set to `--keep` seconds. Every `--sample` seconds it
prints the rows of `events.outbox`, `events.processed_events` and `jobs.outbox` and the
stream's length, next to the baseline measured in the same run: what they would hold
without retention (everything written so far). With retention they level off at about
`rate × (keep + every)`; the baseline grows without end.

Own database and Redis in `./.ensemble/bench/retention` (`--data-dir`): the relay
publishes every pending row, and the trimming looks at every `events:*` stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from common import console, migrated_database, parser, positive, run, start_redis
from ensemble.kernel.db import Database, new_id, utcnow
from ensemble.kernel.events import Envelope, publish
from ensemble.kernel.events.bus import stream_name
from ensemble.kernel.events.consumer import consumer
from ensemble.kernel.events.models import OutboxEvent, ProcessedEvent
from ensemble.kernel.events.relay import relay_once
from ensemble.kernel.events.retention import prune_event_tables, trim_streams
from ensemble.kernel.events.runner import ConsumerRunner
from ensemble.kernel.jobs.maintenance import prune_outbox
from ensemble.kernel.jobs.models import OutboxJob

TICK_S = 0.1
TABLES = {
    "events.outbox": OutboxEvent,
    "events.processed_events": ProcessedEvent,
    "jobs.outbox": OutboxJob,
}


@dataclass
class Written:
    """What the producer wrote so far: the size of everything without retention."""

    events: int = 0


async def produce(
    database: Database, kind: str, rate: float, stop: asyncio.Event, written: Written
) -> None:
    """`rate` events/s (with a relayed job row each), in a transaction per tick."""
    per_tick = max(1, round(rate * TICK_S))
    while not stop.is_set():
        began = time.monotonic()
        async with database.unit_of_work() as session:
            for _ in range(per_tick):
                envelope = Envelope(
                    aggregate_type=kind, aggregate_id=f"a{written.events % 50}", type="noted"
                )
                await publish(session, envelope)
                session.add(OutboxJob(job="soak.noted", kwargs={}, dispatched_at=utcnow()))
                written.events += 1
        await pause(stop, began + TICK_S - time.monotonic())


async def relay(database: Database, redis: Redis, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if not await relay_once(database, redis):
            await pause(stop, TICK_S)


async def retain(database: Database, redis: Redis, keep: timedelta) -> None:
    """One run of the kernel's retention jobs, as the worker runs them."""
    async with database.unit_of_work() as session:
        await prune_event_tables(session, keep)
        await prune_outbox.run(session)
    await trim_streams(redis, keep)


async def every_seconds(
    seconds: float, stop: asyncio.Event, action: Callable[[], Awaitable[Any]]
) -> None:
    while not stop.is_set():
        began = time.monotonic()
        await action()
        await pause(stop, began + seconds - time.monotonic())


async def pause(stop: asyncio.Event, seconds: float) -> None:
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


async def sizes(session: AsyncSession, redis: Redis, stream: str) -> list[int]:
    counts = [
        int((await session.execute(select(func.count()).select_from(model))).scalar_one())
        for model in TABLES.values()
    ]
    return [*counts, int(await redis.xlen(stream))]


@dataclass(frozen=True)
class Sample:
    at_s: float
    sizes: list[int]  # each table's rows, then the stream's length
    baseline: int  # what each would hold without retention: every event written so far


def table(samples: list[Sample], stream: str) -> Table:
    shown = Table(title="rows and stream entries over time, with retention / without (baseline)")
    for column in ["s", *TABLES, stream]:
        shown.add_column(column, justify="right")
    for each in samples:
        shown.add_row(f"{each.at_s:.0f}", *(f"{size:,} / {each.baseline:,}" for size in each.sizes))
    return shown


async def main(options: argparse.Namespace) -> int:
    os.environ["JOBS_RETENTION_HOURS"] = str(options.keep / 3600)  # read by prune_outbox
    keep = timedelta(seconds=options.keep)
    redis_url, embedded_redis = start_redis(options.data_dir.resolve())
    redis = Redis.from_url(redis_url)
    kind = f"soak-{new_id().hex[-8:]}"
    stream = stream_name(kind)
    written = Written()
    stop = asyncio.Event()
    samples: list[Sample] = []
    try:
        async with migrated_database(options, 8) as dbs:
            database = dbs.database
            runner = ConsumerRunner(
                database, redis, consumer(f"soak-{kind}", aggregate_types=[kind])(noted)
            )
            started = time.monotonic()

            async def sample() -> None:
                async with database.sessionmaker() as session:
                    now = await sizes(session, redis, stream)
                samples.append(Sample(time.monotonic() - started, now, written.events))

            tasks = [
                asyncio.create_task(produce(database, kind, options.rate, stop, written)),
                asyncio.create_task(relay(database, redis, stop)),
                asyncio.create_task(runner.run(stop, block_ms=200)),
                asyncio.create_task(
                    every_seconds(options.every, stop, lambda: retain(database, redis, keep))
                ),
                asyncio.create_task(every_seconds(options.sample, stop, sample)),
            ]
            with console.status(f"soaking for {options.seconds:g} s"):
                await pause(asyncio.Event(), options.seconds)
            stop.set()
            await asyncio.gather(*tasks)
            await sample()
            await redis.delete(stream)
    finally:
        await redis.aclose()
        if embedded_redis is not None and not options.keep_db:
            embedded_redis.stop()
    console.print(table(samples, stream))
    return 0 if verdict(samples, options) else 1


def verdict(samples: list[Sample], options: argparse.Namespace) -> bool:
    """Flat: at the end every size is within 1.5 x rate x (keep + every), the most retention
    lets live, while the baseline holds everything written."""
    bound = 1.5 * options.rate * (options.keep + options.every)
    last = samples[-1]
    flat = bool(max(last.sizes) <= bound)
    console.print(
        f"{'[green]FLAT[/]' if flat else '[red]GROWING[/]'} after {last.at_s:.0f} s: largest"
        f" {max(last.sizes):,} (bound {bound:,.0f}); without retention {last.baseline:,}"
    )
    return flat


async def noted(_: AsyncSession, __: Envelope) -> None:
    """The soak's consumer: nothing to do but be recorded as processed."""


def options_parser() -> argparse.ArgumentParser:
    p = parser(__doc__.splitlines()[0] if __doc__ else "retention soak")
    p.set_defaults(data_dir=parser("").get_default("data_dir") / "retention")
    p.add_argument("--seconds", type=float, default=60.0, help="how long to soak")
    p.add_argument("--rate", type=float, default=200.0, help="events (and job rows) per second")
    p.add_argument("--keep", type=float, default=5.0, help="retention age of everything, s")
    p.add_argument("--every", type=float, default=2.0, help="retention jobs run this often, s")
    p.add_argument("--sample", type=positive, default=5, help="print sizes this often, s")
    return p


if __name__ == "__main__":
    run(main, options_parser().parse_args())
