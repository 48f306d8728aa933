"""Event store: appends next to raw asyncpg and the `eventsourcing` library, and replays.

Series, all in one run against one PostgreSQL (embedded unless DATABASE_URL):

- **append**: `--concurrency` clients, each on its own aggregate, append one event per
  transaction (`--appends` per series, in `--rounds` rounds that take the series in turn, so
  the load other work puts on the machine weighs on every series alike):
  - *baseline raw asyncpg*: `BEGIN; INSERT INTO events.stored_events …; COMMIT` from an
    asyncpg pool;
  - *floor: unit of work + INSERT*: that same INSERT in a `Database.unit_of_work()`, on
    the session's asyncpg connection as the store sends its statement
    (`kernel.db.raw.transaction_connection`): what the unit of work costs before the store
    does anything;
  - *ensemble append*: `kernel.events.store.append` in `Database.unit_of_work()` (one
    statement that checks the head, inserts and tells a conflict, then commit);
  - *ensemble append + outbox*: the same with `publish=True` (the same statement also
    writes the outbox row and wakes the relay), the counterpart of eventsourcing's
    notification log;
  - *eventsourcing save*: `Application.save(aggregate)` of the `eventsourcing` library with
    its PostgreSQL persistence (`eventsourcing.postgres`, psycopg 3, its defaults: a
    notification log, so each save locks its events table), in its own schema
    `eventsourcing_bench`; the library is synchronous, so each client is a thread.
- **replay** of one aggregate of `--events` events (appended in batches of `--batch`, with a
  snapshot every 100 events), loaded one at a time:
  - *ensemble load from snapshot*: `store.load` (newest snapshot + the events after it);
  - *ensemble load from scratch*: `store.load(from_snapshot=False)`, every event;
  - *raw asyncpg fetch of every event*: the rows alone, nothing applied, for scale;
  - *eventsourcing load from snapshot / from scratch*: `repository.get` of an application
    with `snapshotting_intervals` of 100, and of one without snapshotting.

Goals: appends at least 0.8x raw asyncpg and 3x eventsourcing; loading a 10,000-event
aggregate from its snapshot under 20 ms. The eventsourcing series need
`pip install -e '.[bench]'`; without it they are skipped. No seeding and no server.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url

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
from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.events import Envelope, EventPayload
from ensemble.kernel.events.store import append, load

KIND = "BenchOwnership"
LOAD_TARGET_MS = 20.0
RAW_TARGET = 0.8
EVENTSOURCING_TARGET = 3.0
ES_SCHEMA = "eventsourcing_bench"
ES_INSTALL = "pip install -e '.[bench]'"

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


class Acquired(EventPayload, type="character.acquired"):
    character: str


class Lost(EventPayload, type="character.lost"):
    character: str


def event(n: int) -> Acquired | Lost:
    """Event n: acquire c<n>; every third one loses c<n-1> instead."""
    if n % 3 == 0:
        return Lost(character=f"c{n - 1}")
    return Acquired(character=f"c{n}")


# The eventsourcing library (optional: the `bench` extra)


@dataclass
class EventSourcing:
    """The library's side: an application with snapshots, one without, and the aggregate."""

    app: Any
    scratch_app: Any
    aggregate_cls: Any
    threads: ThreadPoolExecutor

    def close(self) -> None:
        self.threads.shutdown()
        self.app.close()
        self.scratch_app.close()


def eventsourcing_env(url: str, connections: int) -> dict[str, str]:
    """The library's configuration for our database, in its own schema."""
    parts = make_url(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.database or "",
        "POSTGRES_HOST": parts.host or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "",
        "POSTGRES_PASSWORD": parts.password or "",
        "POSTGRES_SCHEMA": ES_SCHEMA,
        "POSTGRES_POOL_SIZE": str(connections),
    }


def start_eventsourcing(url: str, connections: int) -> EventSourcing | None:
    """Both applications on our PostgreSQL, or None (with how to install) without the library.

    The classes are made here so that this module imports without the library."""
    try:
        from eventsourcing.application import Application  # type: ignore[import-not-found, unused-ignore]
        from eventsourcing.domain import Aggregate, event  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        console.print(
            "[yellow]eventsourcing series skipped: the library is not installed"
            f" ({escape(ES_INSTALL)})[/]"
        )
        return None

    class EsOwnership(Aggregate):  # type: ignore[misc, unused-ignore]
        """`Ownership` as an eventsourcing aggregate (a dict: its snapshots are JSON)."""

        def __init__(self) -> None:
            self.owned: dict[str, bool] = {}

        @event("Acquired")  # type: ignore[untyped-decorator, unused-ignore]
        def acquire(self, character: str) -> None:
            self.owned[character] = True

        @event("Lost")  # type: ignore[untyped-decorator, unused-ignore]
        def lose(self, character: str) -> None:
            self.owned.pop(character, None)

    class EsOwnerships(Application[UUID]):  # type: ignore[misc, unused-ignore]
        name = "bench_ownerships"
        snapshotting_intervals = {EsOwnership: 100}

    class EsOwnershipsNoSnapshots(Application[UUID]):  # type: ignore[misc, unused-ignore]
        name = "bench_ownerships"  # the same tables, read without snapshots

    env = eventsourcing_env(url, connections)
    return EventSourcing(
        app=EsOwnerships(env=env),
        scratch_app=EsOwnershipsNoSnapshots(env=env),
        aggregate_cls=EsOwnership,
        threads=ThreadPoolExecutor(connections, thread_name_prefix="eventsourcing"),
    )


# Append


Appender = Callable[[str, int], Awaitable[None]]


def raw_appender(pool: asyncpg.Pool) -> Appender:
    async def one(aggregate_id: str, sequence: int) -> None:
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(
                RAW_INSERT, KIND, aggregate_id, sequence, new_id(), '{"character": "c"}', utcnow()
            )

    return one


def floor_appender(database: Database) -> Appender:
    async def one(aggregate_id: str, sequence: int) -> None:
        async with database.unit_of_work() as session:
            connection = await transaction_connection(session)
            await connection.execute(
                RAW_INSERT, KIND, aggregate_id, sequence, new_id(), '{"character": "c"}', utcnow()
            )

    return one


def kernel_appender(database: Database, *, publish: bool = False) -> Appender:
    async def one(aggregate_id: str, sequence: int) -> None:
        async with database.unit_of_work() as session:
            await append(
                session,
                aggregate_type=KIND,
                aggregate_id=aggregate_id,
                expected_sequence=sequence - 1,
                events=[Acquired(character="c")],
                publish=publish,
            )

    return one


def eventsourcing_appender(library: EventSourcing) -> Appender:
    """Each client keeps its aggregate: created by its first save, one event per save after."""
    aggregates: dict[str, Any] = {}

    def save(aggregate_id: str, sequence: int) -> None:
        if sequence == 1:
            aggregates[aggregate_id] = aggregate = library.aggregate_cls()
        else:
            aggregate = aggregates[aggregate_id]
            aggregate.acquire("c")
        library.app.save(aggregate)

    async def one(aggregate_id: str, sequence: int) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(library.threads, save, aggregate_id, sequence)

    return one


@dataclass
class AppendRun:
    """One append series: its latencies and throughput, and the client CPU it took."""

    stats: Stats
    client_cpu_us: float


@dataclass
class AppendSeries:
    """An append series measured in rounds: each client appends to its own aggregate, which
    it goes on appending to from round to round."""

    label: str
    one: Appender
    concurrency: int
    run_id: str = field(default_factory=lambda: new_id().hex[-12:])
    sequences: list[int] = field(default_factory=list)
    timings: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0

    async def run(self, total: int) -> None:
        """`total` more appends from the `concurrency` clients."""
        if not self.sequences:
            self.sequences = [0] * self.concurrency

        async def measured(index: int) -> None:
            client = index % self.concurrency
            self.sequences[client] += 1
            started = time.perf_counter()
            await self.one(f"{self.label[:8]}-{self.run_id}-{client}", self.sequences[client])
            self.timings.append((time.perf_counter() - started) * 1000)

        cpu = time.process_time()
        self.wall_s += await _per_client(self.concurrency, total, measured)
        self.cpu_s += time.process_time() - cpu

    def result(self) -> AppendRun:
        count = len(self.timings)
        return AppendRun(Stats(self.label, self.timings, self.wall_s), self.cpu_s / count * 1e6)


async def append_series(
    appenders: dict[str, Appender], total: int, concurrency: int, rounds: int
) -> dict[str, AppendRun]:
    """`total` appends per series, in `rounds` rounds that take the series in turn, so a
    change in the machine's load during the run weighs on every series alike."""
    series = [AppendSeries(label, one, concurrency) for label, one in appenders.items()]
    for done in range(rounds):
        share = total * (done + 1) // rounds - total * done // rounds
        for each in series:
            await each.run(share)
    return {each.label: each.result() for each in series}


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


def build_eventsourcing_aggregate(library: EventSourcing, events: int, batch: int) -> Any:
    """The same history in the library: its creation event, then events 1 … `events - 1`,
    saved `batch` at a time (its application snapshots every 100 versions)."""
    aggregate = library.aggregate_cls()
    with console.status(f"saving {events:,} events through eventsourcing"):
        for n in range(1, events):
            happened = event(n)
            if isinstance(happened, Lost):
                aggregate.lose(happened.character)
            else:
                aggregate.acquire(happened.character)
            if n % batch == 0:
                library.app.save(aggregate)
        library.app.save(aggregate)
    return aggregate.id


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
    """Loads through the store; both ways must give the same state (checked once, after the
    timings, so the check's own cost stays out of them)."""
    last: dict[bool, Ownership] = {}

    def loader(from_snapshot: bool) -> Callable[[], Awaitable[None]]:
        async def one() -> None:
            async with database.sessionmaker() as session:
                aggregate, sequence = await load(
                    session, Ownership, KIND, aggregate_id, from_snapshot=from_snapshot
                )
            if sequence != events:
                raise RuntimeError(f"load gave sequence {sequence}")
            last[from_snapshot] = aggregate

        return one

    async def raw_fetch() -> None:
        async with pool.acquire() as connection:
            rows = await connection.fetch(RAW_FETCH, KIND, aggregate_id)
        if len(rows) != events:
            raise RuntimeError(f"fetched {len(rows)} rows")

    scratch_loads = max(5, loads // 10)
    series = [
        await timed("ensemble load from snapshot", loads, loader(True)),
        await timed("ensemble load from scratch", scratch_loads, loader(False)),
        await timed("raw asyncpg fetch of every event", scratch_loads, raw_fetch),
    ]
    if last[True].snapshot() != last[False].snapshot():
        raise RuntimeError("the loads from snapshot and from scratch differ")
    return series


async def eventsourcing_replay_series(
    library: EventSourcing, aggregate_id: Any, loads: int, events: int
) -> list[Stats]:
    """Loads through the library's repository, called directly (no thread hop)."""

    def loader(app: Any) -> Callable[[], Awaitable[None]]:
        async def one() -> None:
            aggregate = app.repository.get(aggregate_id)
            if aggregate.version != events:
                raise RuntimeError(f"eventsourcing loaded version {aggregate.version}")

        return one

    scratch_loads = max(5, loads // 10)
    return [
        await timed("eventsourcing load from snapshot", loads, loader(library.app)),
        await timed("eventsourcing load from scratch", scratch_loads, loader(library.scratch_app)),
    ]


# Report


def _times(ours: float | None, base: float | None) -> str:
    if ours is None or base is None or not base or math.isnan(ours) or math.isnan(base):
        return "-"
    return f"{ours / base:.2f}x"


def report_ratios(pairs: list[tuple[Stats, Stats]], cpu_us: dict[str, float]) -> None:
    """`ours / base` for each pair (latency: lower is better, throughput: higher is better),
    then the client process's CPU per append of each series."""
    table = Table(
        title="ratios (latency: lower is better; appends/s: higher)", title_justify="left"
    )
    for column in ("ours / base", "p50", "p99", "appends/s"):
        table.add_column(column, justify="left" if column == "ours / base" else "right")
    for ours, base in pairs:
        table.add_row(
            f"{ours.label} / {base.label}",
            _times(ours.p(50), base.p(50)),
            _times(ours.p(99), base.p(99)),
            _times(ours.throughput, base.throughput),
        )
    console.print(table)
    console.print(
        "client process CPU per append (µs, all threads): "
        + ", ".join(f"{label} {value:.0f}" for label, value in cpu_us.items())
    )


def ratio_verdict(label: str, ours: Stats, base: Stats, target: float) -> bool:
    value = (ours.throughput or 0.0) / (base.throughput or math.inf)
    ok = value >= target
    mark = "[green]PASS[/]" if ok else "[red]MISS[/]"
    console.print(f"{mark} {label}: {value:.2f}x (target ≥ {target:g}x)")
    return ok


# Main


@contextmanager
def eventsourcing_started(
    url: str, connections: int, enabled: bool
) -> Iterator[EventSourcing | None]:
    library = start_eventsourcing(url, connections) if enabled else None
    try:
        yield library
    finally:
        if library is not None:
            library.close()


async def main(options: argparse.Namespace) -> int:
    concurrency = options.concurrency
    async with migrated_database(options, concurrency) as dbs:
        database, pool = dbs.database, dbs.pool
        await pool.execute(f"CREATE SCHEMA IF NOT EXISTS {ES_SCHEMA}")
        with eventsourcing_started(dbs.url, concurrency, not options.no_eventsourcing) as library:
            appenders = {
                "baseline raw asyncpg": raw_appender(pool),
                "floor: unit of work + INSERT": floor_appender(database),
                "ensemble append": kernel_appender(database),
                "ensemble append + outbox": kernel_appender(database, publish=True),
            }
            if library is not None:
                appenders["eventsourcing save"] = eventsourcing_appender(library)
            await append_series(appenders, concurrency * 4, concurrency, rounds=1)  # warm-up
            runs = await append_series(appenders, options.appends, concurrency, options.rounds)
            aggregate_id = await build_aggregate(database, options.events, options.batch)
            replays = await replay_series(
                database, pool, aggregate_id, options.loads, options.events
            )
            if library is not None:
                es_id = build_eventsourcing_aggregate(library, options.events, options.batch)
                replays += await eventsourcing_replay_series(
                    library, es_id, options.loads, options.events
                )
    return summarize(options, runs, replays)


def summarize(options: argparse.Namespace, runs: dict[str, AppendRun], replays: list[Stats]) -> int:
    stats = {label: run.stats for label, run in runs.items()}
    raw, kernel = stats["baseline raw asyncpg"], stats["ensemble append"]
    library = stats.get("eventsourcing save")
    report(
        f"event store appends: {options.appends:,} single-event transactions per series,"
        f" {options.concurrency} clients on their own aggregates",
        list(stats.values()),
        throughput_unit="appends/s",
    )
    pairs = [(kernel, raw), (kernel, stats["floor: unit of work + INSERT"])]
    if library is not None:
        pairs += [(kernel, library), (stats["ensemble append + outbox"], library)]
    report_ratios(pairs, {label: run.client_cpu_us for label, run in runs.items()})
    report(f"loading one aggregate of {options.events:,} events, one load at a time", replays)
    ok = [
        ratio_verdict("ensemble append / raw asyncpg, appends/s", kernel, raw, RAW_TARGET),
        verdict("ensemble load from snapshot p99", replays[0].p(99), LOAD_TARGET_MS),
    ]
    if library is not None:
        ok.append(
            ratio_verdict(
                "ensemble append / eventsourcing, appends/s", kernel, library, EVENTSOURCING_TARGET
            )
        )
    return 0 if all(ok) else 1


def options_parser() -> argparse.ArgumentParser:
    p = parser(__doc__.splitlines()[0] if __doc__ else "event store")
    p.add_argument("--appends", type=positive, default=4000, help="measured appends per series")
    p.add_argument("--concurrency", type=positive, default=16, help="concurrent appenders")
    p.add_argument(
        "--rounds", type=positive, default=8, help="append rounds, taking the series in turn"
    )
    p.add_argument("--events", type=positive, default=10_000, help="events of the replayed one")
    p.add_argument("--batch", type=positive, default=500, help="events per append when building")
    p.add_argument("--loads", type=positive, default=300, help="measured loads from snapshot")
    p.add_argument(
        "--no-eventsourcing", action="store_true", help="skip the eventsourcing library's series"
    )
    return p


if __name__ == "__main__":
    # `--products`, `--seed`, `--log-level` and `--workers` come with the shared parser; unused.
    run(main, options_parser().parse_args())
