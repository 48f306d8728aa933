"""Read-model rebuild: replay `--events` stored events into a fresh Redis generation.

The events (`--users` users, `item.acquired` with every fifth one an `item.lost`) are
appended with `kernel.events.store.append` in bulk, `--batch` users per transaction, under
an aggregate type of this run alone. Then `kernel.events.projection.rebuild` of the owned
items and weekly ranking projection (the one of tests/kernel/test_projections.py) replays
them from the store into Redis, `--runs` times (each run builds a new generation and
deletes the previous one). PostgreSQL is embedded unless DATABASE_URL, Redis is embedded
(in `<data-dir>/redis`) unless REDIS_URL.

Goal: rebuilding 100,000 events in under 30 s. No seeding and no server.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from common import Stats, console, parser, positive, report, run, start_postgres, verdict
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database, new_id
from ensemble.kernel.embedded import EmbeddedRedis
from ensemble.kernel.events import Envelope
from ensemble.kernel.events.projection import Namespace, Projection, projection, rebuild
from ensemble.kernel.events.store import append

TARGET_MS = 30_000.0
START = datetime(2025, 1, 6, tzinfo=UTC)


def owned_items(kind: str) -> Projection:
    """Each user's owned items, and a weekly ranking of points acquired."""

    @projection(f"bench-owned-{kind}", aggregate_types=[kind], types=["item.acquired", "item.lost"])
    async def apply(pipe: Pipeline, ns: Namespace, envelope: Envelope) -> None:
        user, item = envelope.aggregate_id, str(envelope.payload["item"])
        if envelope.type == "item.lost":
            pipe.srem(ns.key("owned", user), item)
            return
        pipe.sadd(ns.key("owned", user), item)
        year, week, _ = envelope.occurred_at.isocalendar()
        pipe.zincrby(
            ns.key("ranking", f"{year}-W{week:02d}"), int(envelope.payload["points"]), user
        )

    return apply


def user_events(per_user: int, user: int) -> list[tuple[str, dict[str, Any], int]]:
    events: list[tuple[str, dict[str, Any], int]] = []
    for n in range(per_user):
        if n % 5 == 4:
            events.append(("item.lost", {"item": f"i{n - 1}"}, 1))
        else:
            events.append(("item.acquired", {"item": f"i{n}", "points": (user + n) % 10 + 1}, 1))
    return events


async def generate(database: Database, kind: str, users: int, per_user: int, batch: int) -> int:
    """Append `per_user` events to each of `users` new aggregates; returns the total."""
    with console.status(f"appending {users * per_user:,} events to {users:,} {kind} streams"):
        for first in range(0, users, batch):
            async with database.unit_of_work() as session:
                for user in range(first, min(first + batch, users)):
                    await append(
                        session,
                        aggregate_type=kind,
                        aggregate_id=f"u{user}",
                        expected_sequence=0,
                        events=[
                            _dated(kind, user, n, event)
                            for n, event in enumerate(user_events(per_user, user))
                        ],
                    )
    return users * per_user


def _dated(kind: str, user: int, n: int, event: tuple[str, dict[str, Any], int]) -> Envelope:
    """The event, occurring n hours after the start (so the ranking spans several weeks)."""
    type_, payload, version = event
    return Envelope(
        aggregate_type=kind,
        aggregate_id=f"u{user}",
        type=type_,
        payload=payload,
        version=version,
        occurred_at=START + timedelta(hours=n + user % 24),
    )


def _advance(bar: Progress, task: TaskID) -> Callable[[int], None]:
    def advance(done: int) -> None:
        bar.update(task, completed=done)

    return advance


async def rebuild_runs(database: Database, redis: Redis, model: Projection, runs: int) -> Stats:
    timings: list[float] = []
    events = 0
    for number in range(1, runs + 1):
        with Progress(
            TextColumn(f"rebuild {number}/{runs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("rebuild", total=None)
            started = time.perf_counter()
            async with database.sessionmaker() as session:
                result = await rebuild(session, redis, model, progress=_advance(bar, task))
            timings.append((time.perf_counter() - started) * 1000)
        events += result.events
        console.print(
            f"[dim]rebuild {number}: {result.events:,} events into generation"
            f" {result.generation} in {result.seconds:.2f} s,"
            f" {result.dropped_keys:,} keys of the previous one dropped[/]"
        )
    return Stats("ensemble rebuild", timings, sum(timings) / 1000, count=events)


def start_redis(data_dir: Path) -> tuple[str, EmbeddedRedis | None]:
    """`REDIS_URL` if set, else an embedded Redis in `<data-dir>/redis`."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        return configured, None
    embedded = EmbeddedRedis(data_dir / "redis")
    return embedded.start(), embedded


async def main(options: argparse.Namespace) -> int:
    data_dir = options.data_dir.resolve()
    url, embedded = start_postgres(data_dir)
    redis_url, embedded_redis = start_redis(data_dir)
    database = Database(url, pool_size=2, max_overflow=0)
    redis = Redis.from_url(redis_url)
    kind = f"BenchUser-{new_id().hex[-8:]}"
    model = owned_items(kind)
    try:
        await migrate(database.engine)
        per_user = -(-options.events // options.users)
        total = await generate(database, kind, options.users, per_user, options.batch)
        stats = await rebuild_runs(database, redis, model, options.runs)
        await redis.delete(model.meta, model.counter)
        current_keys = [key async for key in redis.scan_iter(match=f"{model.root}:*")]
        if current_keys:
            await redis.unlink(*current_keys)
    finally:
        await redis.aclose()
        await database.dispose()
        if embedded_redis is not None and not options.keep_db:
            embedded_redis.stop()
        if embedded is not None and not options.keep_db:
            embedded.stop()

    report(f"read-model rebuild of {total:,} stored events", [stats], throughput_unit="events/s")
    return 0 if verdict("rebuild (slowest run)", max(stats.samples), TARGET_MS) else 1


def options_parser() -> argparse.ArgumentParser:
    p = parser(__doc__.splitlines()[0] if __doc__ else "read-model rebuild")
    p.add_argument("--events", type=positive, default=100_000, help="stored events to replay")
    p.add_argument("--users", type=positive, default=1_000, help="aggregates they belong to")
    p.add_argument("--batch", type=positive, default=50, help="users appended per transaction")
    p.add_argument("--runs", type=positive, default=3, help="measured rebuilds")
    return p


if __name__ == "__main__":
    # `--products`, `--seed`, `--log-level` and `--workers` come with the shared parser; unused.
    run(main, options_parser().parse_args())
