"""Event store: append throughput, and replaying a 10,000-event aggregate from its snapshot.

Series, all in one run against one PostgreSQL (embedded unless DATABASE_URL):

- **append**: `--concurrency` clients, each on its own aggregate, append one event per
  transaction (`--appends` in all):
  - *baseline raw asyncpg*: `BEGIN; INSERT INTO events.stored_events …; COMMIT` from an
    asyncpg pool;
  - *ensemble append*: `kernel.events.store.append` in `Database.unit_of_work()` (savepoint,
    the expected-sequence check, the INSERT, commit);
- **replay** of one aggregate of `--events` events (appended in batches of `--batch` through
  the loaded aggregate, so snapshots are written every 100 events), loaded one at a time:
  - *ensemble load from snapshot*: `store.load` (newest snapshot + the events after it);
  - *ensemble load from scratch*: `store.load(from_snapshot=False)`, every event;
  - *raw asyncpg fetch of every event*: the rows alone, nothing applied, for scale.

Goal (spec, section 8.4): loading a 10,000-event aggregate from its snapshot well under
20 ms. No seeding and no server.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from common import (
    Stats,
    console,
    migrated_database,
    parser,
    positive,
    report,
    run,
    verdict,
)
from ensemble.kernel.db import Database, new_id, utcnow
from ensemble.kernel.events import Envelope
from ensemble.kernel.events.store import append, load

KIND = "BenchOwnership"
TARGET_MS = 20.0

RAW_INSERT = """
INSERT INTO events.stored_events (
    aggregate_type, aggregate_id, sequence_number, event_id, type, version, payload,
    trace_id, occurred_at
) VALUES ($1, $2, $3, $4, 'character.acquired', 1, $5::jsonb, NULL, $6)
"""
RAW_FETCH = """
SELECT sequence_number, event_id, type, version, payload, trace_id, occurred_at
FROM events.stored_events WHERE aggregate_type = $1 AND aggregate_id = $2
ORDER BY sequence_number
"""


class Ownership:
    """The characters a user owns (the shape of the spec's CharacterOwnership)."""

    def __init__(self) -> None:
        self.owned: set[str] = set()
        self.acquired = 0

    def apply(self, event: Envelope) -> None:
        character = str(event.payload["character"])
        if event.type == "character.acquired":
            self.owned.add(character)
            self.acquired += 1
        else:
            self.owned.discard(character)

    def snapshot(self) -> dict[str, Any]:
        return {"owned": sorted(self.owned), "acquired": self.acquired}

    def restore(self, state: dict[str, Any]) -> None:
        self.owned = set(state["owned"])
        self.acquired = int(state["acquired"])


def event(n: int) -> tuple[str, dict[str, Any], int]:
    """Event n: acquire c<n>; every third one loses c<n-1> instead."""
    if n % 3 == 0:
        return ("character.lost", {"character": f"c{n - 1}"}, 1)
    return ("character.acquired", {"character": f"c{n}"}, 1)


# Append


Appender = Callable[[str, int], Awaitable[None]]


def raw_appender(pool: asyncpg.Pool) -> Appender:
    async def one(aggregate_id: str, sequence: int) -> None:
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(
                RAW_INSERT, KIND, aggregate_id, sequence, new_id(), '{"character": "c"}', utcnow()
            )

    return one


def kernel_appender(database: Database) -> Appender:
    async def one(aggregate_id: str, sequence: int) -> None:
        async with database.unit_of_work() as session:
            await append(
                session,
                aggregate_type=KIND,
                aggregate_id=aggregate_id,
                expected_sequence=sequence - 1,
                events=[("character.acquired", {"character": "c"}, 1)],
            )

    return one


async def append_series(label: str, one: Appender, total: int, concurrency: int) -> Stats:
    """`total` appends from `concurrency` clients, each appending to its own new aggregate."""
    run_id = new_id().hex[-12:]
    sequences = [0] * concurrency
    timings: list[float] = []

    async def measured(index: int) -> None:
        client = index % concurrency
        sequences[client] += 1
        started = time.perf_counter()
        await one(f"{label[:8]}-{run_id}-{client}", sequences[client])
        timings.append((time.perf_counter() - started) * 1000)

    wall = await _per_client(concurrency, total, measured)
    return Stats(label, timings, wall)


async def _per_client(
    concurrency: int, total: int, measured: Callable[[int], Awaitable[None]]
) -> float:
    """Run `measured(i)` with worker w taking exactly the indexes i ≡ w (mod concurrency),
    so each aggregate has one writer and no append conflicts."""

    async def worker(w: int) -> None:
        for index in range(w, total, concurrency):
            await measured(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return time.perf_counter() - started


# Replay


async def build_aggregate(database: Database, events: int, batch: int) -> str:
    """An aggregate of `events` events appended through the loaded aggregate (snapshots)."""
    aggregate_id = f"replay-{new_id().hex[-12:]}"
    with console.status(f"appending {events:,} events to {aggregate_id}"):
        for first in range(1, events + 1, batch):
            async with database.unit_of_work() as session:
                aggregate, sequence = await load(session, Ownership, KIND, aggregate_id)
                await append(
                    session,
                    aggregate_type=KIND,
                    aggregate_id=aggregate_id,
                    expected_sequence=sequence,
                    events=[event(n) for n in range(first, min(first + batch, events + 1))],
                    aggregate=aggregate,
                )
    return aggregate_id


async def timed(label: str, count: int, one: Callable[[], Awaitable[None]]) -> Stats:
    timings: list[float] = []
    await one()  # warm-up (statement caches)
    started = time.perf_counter()
    for _ in range(count):
        began = time.perf_counter()
        await one()
        timings.append((time.perf_counter() - began) * 1000)
    return Stats(label, timings, time.perf_counter() - started)


async def replay_series(
    database: Database, pool: asyncpg.Pool, aggregate_id: str, loads: int, events: int
) -> list[Stats]:
    expected: dict[str, Any] = {}

    async def loader(from_snapshot: bool) -> Callable[[], Awaitable[None]]:
        async def one() -> None:
            async with database.sessionmaker() as session:
                aggregate, sequence = await load(
                    session, Ownership, KIND, aggregate_id, from_snapshot=from_snapshot
                )
            if sequence != events or expected.setdefault("state", aggregate.snapshot()) != (
                aggregate.snapshot()
            ):
                raise RuntimeError(f"load gave sequence {sequence} and a different state")

        return one

    async def raw_fetch() -> None:
        async with pool.acquire() as connection:
            rows = await connection.fetch(RAW_FETCH, KIND, aggregate_id)
        if len(rows) != events:
            raise RuntimeError(f"fetched {len(rows)} rows")

    scratch_loads = max(5, loads // 10)
    return [
        await timed("ensemble load from snapshot", loads, await loader(True)),
        await timed("ensemble load from scratch", scratch_loads, await loader(False)),
        await timed("raw asyncpg fetch of every event", scratch_loads, raw_fetch),
    ]


# Main


async def main(options: argparse.Namespace) -> int:
    async with migrated_database(options, options.concurrency) as dbs:
        database, pool = dbs.database, dbs.pool
        warmup = options.concurrency * 4
        for make in (raw_appender(pool), kernel_appender(database)):
            await append_series("warm-up", make, warmup, options.concurrency)
        raw = await append_series(
            "baseline raw asyncpg", raw_appender(pool), options.appends, options.concurrency
        )
        kernel = await append_series(
            "ensemble append", kernel_appender(database), options.appends, options.concurrency
        )
        aggregate_id = await build_aggregate(database, options.events, options.batch)
        replays = await replay_series(database, pool, aggregate_id, options.loads, options.events)

    report(
        f"event store appends: {options.appends:,} single-event transactions,"
        f" {options.concurrency} clients on their own aggregates",
        [raw, kernel],
        ratio=(kernel, raw),
        throughput_unit="appends/s",
    )
    report(f"loading one aggregate of {options.events:,} events, one load at a time", replays)
    return 0 if verdict("load from snapshot p99", replays[0].p(99), TARGET_MS) else 1


def options_parser() -> argparse.ArgumentParser:
    p = parser(__doc__.splitlines()[0] if __doc__ else "event store")
    p.add_argument("--appends", type=positive, default=4000, help="measured appends per series")
    p.add_argument("--concurrency", type=positive, default=16, help="concurrent appenders")
    p.add_argument("--events", type=positive, default=10_000, help="events of the replayed one")
    p.add_argument("--batch", type=positive, default=500, help="events per append when building")
    p.add_argument("--loads", type=positive, default=300, help="measured loads from snapshot")
    return p


if __name__ == "__main__":
    # `--products`, `--seed`, `--log-level` and `--workers` come with the shared parser; unused.
    run(main, options_parser().parse_args())
