"""Read-model rebuild: replay `--events` stored ECO² events into fresh Redis generations.

The store holds ECO² sagas of users with 1–30 scans each over `--weeks` weeks: per scan, on
its `eco.scan` stream, `ScanRequested`, then `ScanCompleted` (or `ScanFailed`), then for a
reward-eligible scan `ScanRewardGranted` or `ScanRewardCompensated`; on the user's
`eco.character` stream the matching `CharacterAcquired` or `CharacterAcquireFailed`, as
decided by `CharacterOwnership` over the shipped catalogue (at most `ECO_MAX_CHARACTERS`,
12, per user). Payloads are the `ensemble.apps.eco.events` models. They are appended once
with `kernel.events.store.append`, in one transaction, to a database of their own
(`ensemble_bench_eco_<events>` on the bench PostgreSQL, so no other benchmark's ECO² events
mix in), and reused by later runs.

Each of `--runs` runs rebuilds all of ECO²'s read models (`read_models.PROJECTIONS`:
`eco.owned`, `eco.ranking`, `eco.scans`) with `kernel.events.projection.rebuild`, one after
the other as `ensemble eco rebuild-read-models` does: each reads its events from the store,
applies them into a new generation, switches readers to it and drops the previous one. The
projections are the real ones (same apply functions, streams and event types) with their
Redis keys under `rm:bench.eco.*` instead of `rm:eco.*`, so a shared Redis keeps its own.

Baseline, same run: raw asyncpg reads the same rows (the same query, server-side cursor,
`CHUNK` rows at a time) and raw Redis writes the same keys in one MULTI pipeline per chunk,
hand-written: no generations, no applied-event set, no envelopes or payload models.

PostgreSQL is embedded unless DATABASE_URL (then that database is used, with any ECO² events
it already holds), Redis is embedded (in `<data-dir>/redis`) unless REDIS_URL.
Goal: rebuilding 100,000 events in under 30 s. No server.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
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

from common import (
    BENCH_DATABASE,
    Stats,
    console,
    parser,
    positive,
    raw_dsn,
    report,
    run,
    start_postgres,
    start_redis,
    stop_embedded,
    verdict,
)
from ensemble.apps.eco import events
from ensemble.apps.eco.characters.service import catalogue
from ensemble.apps.eco.domain import (
    CatalogueEntry,
    CharacterOwnership,
    Classification,
    Grant,
    categories,
)
from ensemble.apps.eco.read_models import PROJECTIONS
from ensemble.apps.eco.settings import EcoSettings
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database, new_id
from ensemble.kernel.events import Envelope, EventPayload
from ensemble.kernel.events.projection import CHUNK, Projection, count_stored, rebuild
from ensemble.kernel.events.store import append

TARGET_MS = 30_000.0
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
MAX_CHARACTERS = EcoSettings.model_fields["max_characters"].default
MODELS: tuple[Projection, ...] = tuple(
    replace(model, name=f"bench.{model.name}") for model in PROJECTIONS
)
"""ECO²'s projections as they are, with their keys under `rm:bench.eco.*`."""

_MARKER = """
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.eco_events (
    events bigint PRIMARY KEY,
    users integer NOT NULL,
    seeded_at timestamptz NOT NULL DEFAULT now()
);
"""


# The events


@dataclass
class Saga:
    """One user's streams: its `eco.character` stream and one `eco.scan` stream per scan."""

    user_id: uuid.UUID
    character: list[Envelope] = field(default_factory=list)
    scans: list[list[Envelope]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.character) + sum(len(scan) for scan in self.scans)


def _event(kind: str, aggregate_id: str, payload: EventPayload, at: datetime) -> Envelope:
    return Envelope.of(payload, aggregate_type=kind, aggregate_id=aggregate_id, occurred_at=at)


def _scan(scan_id: uuid.UUID, payload: EventPayload, at: datetime) -> Envelope:
    return _event(events.SCAN, str(scan_id), payload, at)


def user_saga(rng: random.Random, entries: list[CatalogueEntry], weeks: int) -> Saga:
    """A user's scans (1–30, over `weeks` weeks) and the character side of each reward."""
    user = new_id()
    saga, ownership = Saga(user), CharacterOwnership()
    codes = sorted(categories())
    weights = [5 if categories()[code].recyclable else 2 for code in codes]
    moments = sorted(
        START + timedelta(seconds=rng.randrange(weeks * 7 * 86_400))
        for _ in range(rng.randint(1, 30))
    )
    for at in moments:
        scan_id, scan = new_id(), list[Envelope]()
        saga.scans.append(scan)

        requested = events.ScanRequested(scan_id=scan_id, user_id=user, has_text=rng.random() < 0.3)
        scan.append(_scan(scan_id, requested, at))
        if rng.random() < 0.05:  # the classify job gave up
            failed_scan = events.ScanFailed(scan_id=scan_id, user_id=user, reason="timeout")
            scan.append(_scan(scan_id, failed_scan, at + timedelta(minutes=1)))
            continue
        result = Classification(rng.choices(codes, weights)[0], round(rng.uniform(0.2, 0.99), 3))
        completed = events.ScanCompleted(
            scan_id=scan_id,
            user_id=user,
            category=result.category,
            reward_eligible=result.reward_eligible,
            confidence=result.confidence,
        )
        scan.append(_scan(scan_id, completed, at + timedelta(seconds=2)))
        if result.reward_eligible:
            decided = at + timedelta(seconds=3)
            decision = ownership.decide(result.category, entries, MAX_CHARACTERS)
            if isinstance(decision, Grant):
                character = decision.character
                acquired = events.CharacterAcquired(
                    user_id=user,
                    character_id=uuid.UUID(character.id),
                    character_code=character.code,
                    character_name=character.name,
                    category=character.category,
                    scan_id=scan_id,
                )
                envelope = _event(events.CHARACTER, str(user), acquired, decided)
                granted = events.ScanRewardGranted(
                    scan_id=scan_id,
                    user_id=user,
                    character_id=acquired.character_id,
                    character_code=character.code,
                    character_name=character.name,
                )
                scan.append(_scan(scan_id, granted, decided + timedelta(seconds=1)))
            else:
                failed = events.CharacterAcquireFailed(
                    user_id=user, scan_id=scan_id, reason=decision.reason
                )
                envelope = _event(events.CHARACTER, str(user), failed, decided)
                compensated = events.ScanRewardCompensated(
                    scan_id=scan_id, user_id=user, compensation_reason=decision.reason
                )
                scan.append(
                    _scan(
                        scan_id,
                        compensated,
                        decided + timedelta(seconds=1),
                    )
                )
            ownership.apply(envelope)
            saga.character.append(envelope)
    return saga


def sagas(seed: int, entries: list[CatalogueEntry], total: int, weeks: int) -> Iterator[Saga]:
    """Users' sagas holding `total` events in all. The last user's are cut short: whole scans
    (with their character event) while they fit, then a scan still in flight (requested, or
    requested and completed with its reward pending)."""
    rng = random.Random(seed)
    left = total
    while left > 0:
        saga = user_saga(rng, entries, weeks)
        if saga.size <= left:
            left -= saga.size
            yield saga
            continue
        character_of = {str(e.payload["scan_id"]): e for e in saga.character}
        scans, saga.scans, saga.character = saga.scans, [], []
        for scan in scans:
            extra = character_of.get(scan[0].aggregate_id)
            whole = len(scan) + (extra is not None)
            if whole <= left:
                saga.scans.append(scan)
                saga.character += [extra] if extra is not None else []
                left -= whole
            else:
                saga.scans.append(scan[: min(left, 2)])
                left -= len(saga.scans[-1])
            if left == 0:
                break
        yield saga


async def seeded(connection: asyncpg.pool.PoolConnectionProxy, total: int) -> int | None:
    """The users of this database's seed of `total` events, or None if it has none."""
    await connection.execute(_MARKER)
    users: int | None = await connection.fetchval(
        "SELECT users FROM bench.eco_events WHERE events = $1", total
    )
    return users


async def generate(database: Database, options: argparse.Namespace) -> None:
    """Append the events (once: one transaction, so an interrupted seed leaves nothing)."""
    async with database.sessionmaker() as session:
        entries = [
            CatalogueEntry(str(c.id), c.code, c.name, c.category, c.rarity)
            for c in await catalogue(session)
        ]
    columns = (
        TextColumn("appending events"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    users = 0
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("append", total=options.events)
        async with database.unit_of_work() as session:
            for saga in sagas(options.seed, entries, options.events, options.weeks):
                streams = [saga.character, *saga.scans] if saga.character else saga.scans
                for stream in streams:
                    first = stream[0]
                    await append(
                        session,
                        aggregate_type=first.aggregate_type,
                        aggregate_id=first.aggregate_id,
                        expected_sequence=0,
                        events=stream,
                    )
                users += 1
                bar.advance(task, saga.size)
            await (await session.connection()).exec_driver_sql(
                "INSERT INTO bench.eco_events (events, users) VALUES ($1, $2)",
                (options.events, users),
            )
    console.print(
        f"appended {options.events:,} ECO² events of {users:,} users"
        f" in {time.perf_counter() - started:.1f} s"
    )


# The runs


def _advance(bar: Progress, task: TaskID) -> Callable[[int], None]:
    def advance(done: int) -> None:
        bar.update(task, completed=done)

    return advance


async def ensemble_run(
    database: Database, redis: Redis, totals: dict[str, int], number: int
) -> tuple[float, int, str]:
    """Rebuild every model once; the wall time in ms, events applied and a breakdown."""
    parts, applied = [], 0
    started = time.perf_counter()
    for model in MODELS:
        with Progress(
            TextColumn(f"rebuild {number} {model.name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("rebuild", total=totals[model.name])
            async with database.sessionmaker() as session:
                result = await rebuild(session, redis, model, progress=_advance(bar, task))
        applied += result.applied
        parts.append(
            f"{model.name.removeprefix('bench.')} {result.applied:,} in {result.seconds:.2f} s"
            f" (g{result.generation}, {result.dropped_keys:,} old keys dropped)"
        )
    return (time.perf_counter() - started) * 1000, applied, "; ".join(parts)


_READ = """
SELECT event_id, aggregate_type, aggregate_id, type, version, payload, trace_id, occurred_at
FROM events.stored_events
WHERE aggregate_type = ANY($1::text[]) AND type = ANY($2::text[])
ORDER BY recorded_at, aggregate_type, aggregate_id, sequence_number
"""


def _raw_owned(pipe: Pipeline, root: str, row: asyncpg.Record, payload: dict[str, Any]) -> None:
    value = {
        "character_id": payload["character_id"],
        "code": payload["character_code"],
        "name": payload["character_name"],
        "category": payload["category"],
        "acquired_at": row["occurred_at"].isoformat(),
        "scan_id": payload.get("scan_id"),
    }
    pipe.hset(f"{root}:owned:{payload['user_id']}", payload["character_code"], json.dumps(value))


def _raw_ranking(pipe: Pipeline, root: str, row: asyncpg.Record, payload: dict[str, Any]) -> None:
    year, week, _ = row["occurred_at"].astimezone(UTC).isocalendar()
    pipe.zincrby(f"{root}:weekly:{year}-W{week:02d}", 1, payload["user_id"])


def _raw_scans(pipe: Pipeline, root: str, row: asyncpg.Record, payload: dict[str, Any]) -> None:
    scan, user, type_ = payload["scan_id"], payload["user_id"], row["type"]
    scan_key, stats_key = f"{root}:scan:{scan}", f"{root}:stats:{user}"
    if type_ == events.ScanRequested.TYPE:
        pipe.zadd(f"{root}:history:{user}", {scan: 0})
        pipe.hset(
            scan_key,
            mapping={"status": "processing", "requested_at": row["occurred_at"].isoformat()},
        )
        pipe.hincrby(stats_key, "requested", 1)
    elif type_ == events.ScanCompleted.TYPE:
        reward = "pending" if payload["reward_eligible"] else "not_eligible"
        category = payload["category"]
        pipe.hset(
            scan_key, mapping={"status": "completed", "category": category, "reward_status": reward}
        )
        pipe.hincrby(stats_key, "completed", 1)
        pipe.hincrby(stats_key, f"category:{category}", 1)
    elif type_ == events.ScanFailed.TYPE:
        pipe.hset(scan_key, "status", "failed")
        pipe.hincrby(stats_key, "failed", 1)
    elif type_ == events.ScanRewardGranted.TYPE:
        pipe.hset(
            scan_key,
            mapping={"reward_status": "granted", "character_name": payload["character_name"]},
        )
        pipe.hincrby(stats_key, "rewarded", 1)
    else:
        pipe.hset(scan_key, "reward_status", "failed")
        pipe.hincrby(stats_key, "compensated", 1)


RAW_WRITERS = {"eco.owned": _raw_owned, "eco.ranking": _raw_ranking, "eco.scans": _raw_scans}


async def baseline_run(pool: asyncpg.Pool, redis: Redis) -> tuple[float, int]:
    """The same reads and key writes by hand; the wall time in ms and events applied."""
    applied = 0
    started = time.perf_counter()
    for model in PROJECTIONS:
        write, root = RAW_WRITERS[model.name], f"bench-raw:{model.name}"
        async with pool.acquire() as connection, connection.transaction():
            cursor = await connection.cursor(
                _READ, list(model.aggregate_types), sorted(model.types)
            )
            while rows := await cursor.fetch(CHUNK):
                async with redis.pipeline(transaction=True) as pipe:
                    for row in rows:
                        write(pipe, root, row, json.loads(row["payload"]))
                    await pipe.execute()
                applied += len(rows)
    return (time.perf_counter() - started) * 1000, applied


async def drop_keys(redis: Redis, pattern: str) -> None:
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            await redis.unlink(*batch)
            batch.clear()
    if batch:
        await redis.unlink(*batch)


# Run


async def main(options: argparse.Namespace) -> int:
    data_dir = options.data_dir.resolve()
    # DATABASE_URL if set, else `ensemble_bench_eco_<events>` on the embedded bench server
    url, embedded = start_postgres(data_dir, f"{BENCH_DATABASE}_eco_{options.events}")
    redis_url, embedded_redis = start_redis(data_dir)
    database = Database(url, pool_size=2, max_overflow=0)
    redis = Redis.from_url(redis_url)
    pool: asyncpg.Pool | None = None
    ours: list[float] = []
    base: list[float] = []
    ours_events = base_events = 0
    try:
        await migrate(database.engine)
        pool = await asyncpg.create_pool(raw_dsn(url), min_size=1, max_size=1)
        assert pool is not None
        async with pool.acquire() as connection:
            users = await seeded(connection, options.events)
        if users is None:
            await generate(database, options)
        else:
            console.print(
                f"[dim]reusing the {options.events:,} stored events of {users:,} users[/]"
            )
        async with database.sessionmaker() as session:
            totals = {model.name: await count_stored(session, model) for model in MODELS}
        console.print(
            "[dim]events per read model: "
            + ", ".join(f"{name.removeprefix('bench.')} {n:,}" for name, n in totals.items())
            + "[/]"
        )
        for number in range(1, options.runs + 1):
            elapsed, applied, parts = await ensemble_run(database, redis, totals, number)
            ours.append(elapsed)
            ours_events += applied
            console.print(f"[dim]rebuild {number}: {elapsed / 1000:.2f} s — {parts}[/]")
            with console.status(f"baseline {number}"):
                elapsed, applied = await baseline_run(pool, redis)
            base.append(elapsed)
            base_events += applied
            console.print(
                f"[dim]baseline {number}: {applied:,} events in {elapsed / 1000:.2f} s[/]"
            )
            await drop_keys(redis, "bench-raw:*")
        for model in MODELS:  # the bench's read models: this run's generation and pointers
            await drop_keys(redis, f"{model.root}:*")
    finally:
        if pool is not None:
            await pool.close()
        await redis.aclose()
        await database.dispose()
        stop_embedded(embedded_redis, embedded, keep=options.keep_db)

    stored = sum(totals.values())
    ensemble = Stats("ensemble rebuild (3 read models)", ours, sum(ours) / 1000, count=ours_events)
    baseline = Stats("baseline raw asyncpg + Redis", base, sum(base) / 1000, count=base_events)
    report(
        f"ECO² read-model rebuild: {stored:,} events read per run ({options.events:,} stored),"
        f" {options.runs} runs",
        [ensemble, baseline],
        ratio=(ensemble, baseline),
        throughput_unit="events/s",
    )
    return 0 if verdict("rebuild of every read model (slowest run)", max(ours), TARGET_MS) else 1


def options_parser() -> argparse.ArgumentParser:
    p = parser(__doc__.splitlines()[0] if __doc__ else "read-model rebuild")
    p.add_argument(
        "--events", type=positive, default=100_000, help="stored ECO² events (seeded once)"
    )
    p.add_argument("--weeks", type=positive, default=8, help="weeks the scans spread over")
    p.add_argument("--runs", type=positive, default=3, help="measured rebuilds")
    return p


if __name__ == "__main__":
    # `--products`, `--log-level` and `--workers` come with the shared parser; unused.
    run(main, options_parser().parse_args())
