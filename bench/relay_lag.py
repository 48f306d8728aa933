"""Event relay: outbox → Redis Streams throughput, and outbox → consumer lag at a steady rate.

Two parts, each next to a baseline measured in the same run, against a real PostgreSQL
(embedded unless DATABASE_URL) and a real Redis (embedded in `<data-dir>/redis` unless
REDIS_URL):

1. **Throughput.** `--events` unpublished events (`--aggregates` aggregates) are copied into
   the outbox, then drained twice:
   - *baseline raw read + XADD*: one asyncpg connection reads them in position order, a page
     of 500 at a time (keyset on `(xid, seq)`), and XADDs each page, the columns as stored
     (payload as its JSON text), in one Redis pipeline to a scratch stream: no lock, no
     horizon, no envelope, no marking — the I/O a relay cannot avoid;
   - *ensemble relay*: `relay_once` passes (advisory lock, horizon, read, envelopes, XADD
     pipeline, mark published, commit) until the outbox is empty.
2. **Lag.** A producer process commits `--rate` events/s for `--warmup` + `--seconds` s,
   `--per-tx` events a transaction, from `--producers` concurrent tasks on a fixed schedule;
   this process consumes them:
   - *baseline raw XADD → XREADGROUP*: the producer XADDs its wall-clock time to a scratch
     stream; this process reads with XREADGROUP (50 at a time, blocking) and XACKs each
     batch: the bus alone;
   - *ensemble*: the producer writes through `kernel.events.outbox.publish` in
     `Database.unit_of_work()` (`--producer asyncpg`: the same outbox rows and NOTIFY in
     plain asyncpg, for a machine too small to run the ORM producer at the rate besides
     the rest); the relay runs as `python -m ensemble relay`, its own process as under
     `ensemble serve`; this process runs a `ConsumerRunner` (idempotency row, handler,
     commit, XACK) whose handler notes the time.
   Lag is that wall clock minus the event's `occurred_at` (set when the producer builds the
   envelope, just before its INSERT and commit), once when the handler runs and once when
   its read's transaction has committed and the messages are ACKed; warm-up events are not
   counted. The CPU each process spent per event is printed below the table.

The embedded servers live in `./.ensemble/bench/relay` (`--data-dir`), apart from the other
benchmarks' database: a relay publishes every pending row of its outbox, so the outbox
must be this run's alone.

Goal (issue): lag p99 < 200 ms at 1,000 events/s. No seeding and no server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from common import (
    BENCH_SECRET,
    DEFAULT_DATA_DIR,
    REPO_ROOT,
    Stats,
    console,
    migrated_database,
    parser,
    positive,
    process_cpu_s,
    raw_dsn,
    report,
    run,
    start_redis,
    stop_process,
    verdict,
)
from ensemble.kernel.db import Database, new_id
from ensemble.kernel.events import Envelope, publish
from ensemble.kernel.events.bus import RedisStreamsBus, stream_name
from ensemble.kernel.events.consumer import consumer
from ensemble.kernel.events.envelope import as_text
from ensemble.kernel.events.outbox import CHANNEL
from ensemble.kernel.events.relay import BATCH, relay_once
from ensemble.kernel.events.runner import ConsumerRunner, Message

TARGET_MS = 200.0
EVERYSEC = "ensemble relay_once, appendfsync everysec (not durable)"
ALWAYS = "ensemble relay_once, appendfsync always"
PAGE = BATCH
PREFILL_CHUNK = 1_000
RELAY_START_DEADLINE_S = 90.0
COLUMNS = (
    "event_id",
    "aggregate_type",
    "aggregate_id",
    "type",
    "version",
    "payload",
    "trace_id",
    "request_id",
    "occurred_at",
)
RAW_PAGE = f"""
SELECT {", ".join(COLUMNS)}, xid, seq FROM events.outbox
WHERE published_at IS NULL AND (xid, seq) > ($1, $2)
ORDER BY xid, seq LIMIT {PAGE}
"""
PENDING = "SELECT count(*) FROM events.outbox WHERE published_at IS NULL"


def payload_json(n: int) -> str:
    """A payload of the size of a small business event."""
    return f'{{"n":{n},"user":"u-{n % 997}","item":"item-{n % 31}","points":{n % 10 + 1}}}'


# 1. Throughput


async def drain_leftovers(database: Database, redis: Redis) -> None:
    """Publish whatever an earlier run left pending, so the series below start empty."""
    while True:
        done = await relay_once(database, redis)
        if done is None:
            raise SystemExit("another relay holds the events lock on this database; stop it first")
        if done == 0:
            return


async def prefill(pool: asyncpg.Pool, kind: str, events: int, aggregates: int) -> None:
    """`events` unpublished outbox rows, copied in transactions of PREFILL_CHUNK."""
    trace = new_id().hex
    with console.status(f"copying {events:,} events into the outbox"):
        async with pool.acquire() as connection:
            for first in range(0, events, PREFILL_CHUNK):
                now = datetime.now(UTC)
                records = [
                    (
                        new_id(),
                        kind,
                        f"a{n % aggregates}",
                        "bench.noted",
                        1,
                        payload_json(n),
                        trace,
                        f"req-{n}",
                        now,
                    )
                    for n in range(first, min(first + PREFILL_CHUNK, events))
                ]
                async with connection.transaction():
                    await connection.copy_records_to_table(
                        "outbox", schema_name="events", columns=COLUMNS, records=records
                    )
            await connection.execute("ANALYZE events.outbox")


async def raw_drain(pool: asyncpg.Pool, redis: Redis, stream: str, events: int) -> Stats:
    """Read the pending rows in position order and XADD them as they are; no marking."""
    timings: list[float] = []
    sent = 0
    position = (-1, -1)
    started = time.perf_counter()
    async with pool.acquire() as connection:
        while True:
            began = time.perf_counter()
            rows = await connection.fetch(RAW_PAGE, *position)
            if not rows:
                break
            async with redis.pipeline(transaction=False) as pipe:
                for row in rows:
                    fields = {name: str(row[name]) for name in COLUMNS if row[name] is not None}
                    fields["occurred_at"] = row["occurred_at"].isoformat()
                    pipe.xadd(stream, fields)  # type: ignore[arg-type]
                await pipe.execute()
            position = (rows[-1]["xid"], rows[-1]["seq"])
            sent += len(rows)
            timings.append((time.perf_counter() - began) * 1000)
    wall = time.perf_counter() - started
    if sent != events:
        raise RuntimeError(
            f"the raw drain read {sent} rows, expected {events}: something else writes to"
            " this outbox (use a database of this benchmark's own)"
        )
    return Stats("baseline raw read + XADD", timings, wall, count=sent)


async def relay_drain(database: Database, redis: Redis, events: int, label: str) -> Stats:
    """`relay_once` passes until the outbox is empty, on the bus the relay process uses
    (waiting for Redis's disk as the server allows, decision 16)."""
    bus = await RedisStreamsBus(redis).persisting()
    timings: list[float] = []
    sent = 0
    started = time.perf_counter()
    while True:
        began = time.perf_counter()
        done = await relay_once(database, bus)
        if not done:
            break
        sent += done
        timings.append((time.perf_counter() - began) * 1000)
    wall = time.perf_counter() - started
    if sent != events:
        raise RuntimeError(f"the relay published {sent} events, expected {events}")
    return Stats(label, timings, wall, count=sent)


async def throughput(
    options: argparse.Namespace, database: Database, pool: asyncpg.Pool, redis: Redis
) -> tuple[Stats, Stats, Stats]:
    """The raw baseline and the relay with Redis fsyncing its AOF every second (as before
    decision 16: a crash may lose the last second), then the relay with `appendfsync
    always` (the embedded default: each pass's XADDs answered once on disk)."""
    kind = f"bench-relay-{new_id().hex[-8:]}"
    raw_stream = f"bench:raw:{kind}"
    await drain_leftovers(database, redis)
    await prefill(pool, kind, options.events, options.aggregates)
    try:
        await redis.config_set("appendfsync", "everysec")
        with console.status("baseline: raw read + XADD"):
            raw = await raw_drain(pool, redis, raw_stream, options.events)
        with console.status("ensemble: relay passes, appendfsync everysec"):
            everysec = await relay_drain(database, redis, options.events, EVERYSEC)
        await redis.config_set("appendfsync", "always")
        await prefill(pool, kind, options.events, options.aggregates)
        with console.status("ensemble: relay passes, appendfsync always"):
            durable = await relay_drain(database, redis, options.events, ALWAYS)
        published = await redis.xlen(stream_name(kind))
        if published != 2 * options.events:
            raise RuntimeError(f"{published} entries in the stream, expected 2 x {options.events}")
    finally:
        await redis.config_set("appendfsync", "always")
        await redis.delete(raw_stream, stream_name(kind))
    return raw, everysec, durable


# 2. Lag: the producer process


@dataclass(frozen=True)
class Plan:
    """What the producer process does: `per_tx` events a transaction (or XADD) at `rate`
    events/s, the first `warmup_s` seconds not counted."""

    mode: str  # "bus": XADD only | "publish": kernel publish | "asyncpg": the same rows in SQL
    database_url: str
    redis_url: str
    kind: str
    rate: float
    warmup_s: float
    seconds: float
    per_tx: int
    producers: int
    aggregates: int

    @property
    def transactions(self) -> int:
        return round((self.warmup_s + self.seconds) * self.rate / self.per_tx)

    @property
    def warmup_transactions(self) -> int:
        return round(self.warmup_s * self.rate / self.per_tx)

    @property
    def events(self) -> int:
        return self.transactions * self.per_tx

    @property
    def measured_events(self) -> int:
        return (self.transactions - self.warmup_transactions) * self.per_tx


@dataclass(frozen=True)
class Produced:
    measured_wall_s: float  # from the first measured transaction's slot to the last commit
    behind_ms_max: float  # how late the producer started a transaction, at worst
    cpu_s: float


async def paced(plan: Plan, one: Callable[[int], Awaitable[None]]) -> Produced:
    """Run `one(i)` for every transaction on a fixed schedule (open loop) from
    `plan.producers` tasks; a late task starts at once to catch up."""
    counter = iter(range(plan.transactions))
    tx_rate = plan.rate / plan.per_tx
    behind = [0.0]
    start = time.perf_counter() + 0.2
    cpu = time.process_time()

    async def worker() -> None:
        for index in counter:
            delay = start + index / tx_rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                behind[0] = max(behind[0], -delay * 1000)
            await one(index)

    await asyncio.gather(*(worker() for _ in range(plan.producers)))
    measured_from = start + plan.warmup_transactions / tx_rate
    return Produced(time.perf_counter() - measured_from, behind[0], time.process_time() - cpu)


async def produce_events(plan: Plan) -> Produced:
    database = Database(plan.database_url, pool_size=plan.producers, max_overflow=0)

    async def one(index: int) -> None:
        warm = index < plan.warmup_transactions
        async with database.unit_of_work() as session:
            for k in range(plan.per_tx):
                n = index * plan.per_tx + k
                envelope = Envelope(
                    aggregate_type=plan.kind,
                    aggregate_id=f"a{n % plan.aggregates}",
                    type="bench.noted",
                    payload={"n": n, "warmup": warm, "points": n % 10 + 1},
                )
                await publish(session, envelope)

    try:
        async with database.unit_of_work():  # open the pool's connections before the clock
            pass
        return await paced(plan, one)
    finally:
        await database.dispose()


RAW_OUTBOX_INSERT = f"""
INSERT INTO events.outbox ({", ".join(COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""


async def produce_rows(plan: Plan) -> Produced:
    """What `publish` writes (the outbox row, then NOTIFY), in plain asyncpg: the same work
    for the relay and the consumer at a fraction of the producer's CPU."""
    pool = await asyncpg.create_pool(
        raw_dsn(plan.database_url), min_size=plan.producers, max_size=plan.producers
    )
    assert pool is not None

    async def one(index: int) -> None:
        warm = index < plan.warmup_transactions
        async with pool.acquire() as connection, connection.transaction():
            for k in range(plan.per_tx):
                n = index * plan.per_tx + k
                payload = json.dumps({"n": n, "warmup": warm, "points": n % 10 + 1})
                await connection.execute(
                    RAW_OUTBOX_INSERT, new_id(), plan.kind, f"a{n % plan.aggregates}",
                    "bench.noted", 1, payload, None, None, datetime.now(UTC),
                )  # fmt: skip
                await connection.execute(f"NOTIFY {CHANNEL}")

    try:
        return await paced(plan, one)
    finally:
        await pool.close()


async def produce_raw(plan: Plan) -> Produced:
    redis = Redis.from_url(plan.redis_url, max_connections=plan.producers)
    stream = raw_lag_stream(plan.kind)

    async def one(index: int) -> None:
        warm = "1" if index < plan.warmup_transactions else "0"
        async with redis.pipeline(transaction=False) as pipe:
            for _ in range(plan.per_tx):
                pipe.xadd(stream, {"t": repr(time.time()), "w": warm})
            await pipe.execute()

    try:
        await redis.ping()
        return await paced(plan, one)
    finally:
        await redis.aclose()


def producer_process(plan: Plan, results: Any) -> None:
    """The producer's own process (its own core time), started with `spawn`."""
    import uvloop

    produce = {"bus": produce_raw, "publish": produce_events, "asyncpg": produce_rows}[plan.mode]
    results.put(uvloop.run(produce(plan)))


def raw_lag_stream(kind: str) -> str:
    return f"bench:raw:{kind}"


# 2. Lag: the relay process and the consumers


@dataclass
class Relay:
    """`python -m ensemble relay` (as `ensemble serve` spawns it), output in relay.log."""

    process: subprocess.Popen[bytes]
    log: Any

    @classmethod
    def spawn(cls, data_dir: Path, database_url: str, redis_url: str) -> Relay:
        log = (data_dir / "relay.log").open("wb")
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": BENCH_SECRET,
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(data_dir / "server"),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "ensemble", "relay"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        return cls(process, log)

    def cpu_s(self) -> float:
        return process_cpu_s(self.process.pid) or 0.0

    async def until_publishing(self, database: Database, pool: asyncpg.Pool, kind: str) -> None:
        """Publish a probe event and wait until the relay has sent it."""
        async with database.unit_of_work() as session:
            await publish(session, Envelope(aggregate_type=kind, aggregate_id="p", type="probe"))
        deadline = time.monotonic() + RELAY_START_DEADLINE_S
        with console.status("waiting for the relay process to publish"):
            while await pool.fetchval(PENDING):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the relay did not publish; see {self.log.name}")
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


@dataclass
class Received:
    """What a consumer saw: every delivery counted, lags (ms) of measured events only:
    when the handler ran, and when its effects were committed and the message ACKed."""

    expected: int
    done: asyncio.Event = field(default_factory=asyncio.Event)
    lags: list[float] = field(default_factory=list)
    settled_lags: list[float] = field(default_factory=list)
    count: int = 0
    unsettled: list[float] = field(default_factory=list)  # occurred_at of measured ones

    def note(self, lag_ms: float, measured: bool, occurred: float | None = None) -> None:
        self.count += 1
        if measured:
            self.lags.append(lag_ms)
            if occurred is not None:
                self.unsettled.append(occurred)

    def settle(self) -> None:
        """The handled messages are committed and ACKed now."""
        now = time.time()
        self.settled_lags.extend((now - occurred) * 1000 for occurred in self.unsettled)
        self.unsettled.clear()
        if self.count >= self.expected:
            self.done.set()


async def consume_raw(redis: Redis, kind: str, received: Received, stop: asyncio.Event) -> None:
    stream, group = raw_lag_stream(kind), "bench"
    await redis.xgroup_create(stream, group, id="0", mkstream=True)
    while not stop.is_set():
        reply = await redis.xreadgroup(group, "raw", {stream: ">"}, count=50, block=200)
        for _, messages in cast(list[tuple[bytes, list[Message]]], reply or []):
            now = time.time()
            for _, fields in messages:
                received.note((now - float(fields[b"t"])) * 1000, fields[b"w"] == b"0")
            await redis.xack(stream, group, *(message_id for message_id, _ in messages))
            received.settle()


@dataclass
class TimedRunner(ConsumerRunner):
    """A `ConsumerRunner` that tells `received` when a read's messages are settled
    (committed and ACKed: `read` returns only then)."""

    received: Received | None = None

    async def read(self, block_ms: int | None) -> int:
        handled = await super().read(block_ms)
        if self.received is not None:
            self.received.settle()
        return handled


async def consume_events(
    database: Database, redis: Redis, kind: str, received: Received, stop: asyncio.Event
) -> None:
    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        occurred = envelope.occurred_at.timestamp()
        received.note((time.time() - occurred) * 1000, not envelope.payload["warmup"], occurred)

    bench_consumer = consumer(f"bench-lag-{kind}", aggregate_types=[kind])(handler)
    runner = TimedRunner(database, redis, bench_consumer, received=received)
    await runner.run(stop, block_ms=200)


def tree_cpu_s(pid_file: Path) -> float | None:
    """CPU seconds of the server whose pid `pid_file` holds, with its children (PostgreSQL's
    backends), exited ones included; None where unknown (no such file, no /proc)."""
    try:
        pid = int(pid_file.read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                child = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(child[1]) == pid:
                ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Meters:
    """Cumulative CPU seconds of each part that runs besides the producer."""

    readers: dict[str, Callable[[], float | None]]

    def read(self) -> dict[str, float | None]:
        return {name: reader() for name, reader in self.readers.items()}

    def since(self, before: dict[str, float | None]) -> dict[str, float]:
        now = self.read()
        return {
            name: now[name] - start  # type: ignore[operator]
            for name, start in before.items()
            if start is not None and now[name] is not None
        }


@dataclass
class LagRun:
    stats: Stats
    settled: Stats
    produced: Produced
    cpu_s: dict[str, float]  # by part, the producer included


async def lag_series(
    label: str,
    plan: Plan,
    consume: Callable[[Received, asyncio.Event], Coroutine[Any, Any, None]],
    meters: Meters,
) -> LagRun:
    """Start the producer process, consume until every event arrived, stop."""
    received = Received(plan.events)
    stop = asyncio.Event()
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    producer = context.Process(target=producer_process, args=(plan, results), daemon=True)
    consuming = asyncio.create_task(consume(received, stop))
    before = meters.read()
    producer.start()
    try:
        deadline = plan.warmup_s + plan.seconds + 60
        with console.status(f"{label}: {plan.rate:,.0f} events/s for {plan.seconds:g} s"):
            await asyncio.wait_for(received.done.wait(), timeout=deadline)
            produced: Produced = await asyncio.to_thread(results.get, timeout=30)
    except TimeoutError as exc:
        raise RuntimeError(
            f"{label}: {received.count:,} of {plan.events:,} events arrived in time"
        ) from exc
    finally:
        used = meters.since(before)
        stop.set()
        await consuming
        producer.join(timeout=10)
        if producer.is_alive():
            producer.kill()
    wall, count = produced.measured_wall_s, plan.measured_events
    stats = Stats(label, received.lags, wall, count=count)
    settled = Stats(f"{label}, committed + ACKed", received.settled_lags, wall, count=count)
    return LagRun(stats, settled, produced, {"producer": produced.cpu_s, **used})


def describe_run(run_: LagRun, events: int, rate: float) -> None:
    """CPU per event of each part, and the cores they need together at `rate`."""
    per = {name: used * 1000 / events for name, used in run_.cpu_s.items()}
    total = sum(per.values())
    parts = ", ".join(f"{name} {ms:.3f}" for name, ms in per.items())
    console.print(
        f"{run_.stats.label}: CPU ms per event: {parts} (total {total:.2f} ms:"
        f" {total * rate / 1000:.1f} cores at {rate:,.0f} events/s);"
        f" producer at worst {run_.produced.behind_ms_max:.0f} ms behind its schedule"
    )


# Main


async def relay_lags(redis: Redis, kind: str, wall_s: float, count: int) -> Stats:
    """Outbox → stream lag of the measured events: the stream entry's id is the Redis clock
    (ms) at XADD, compared with the event's `occurred_at`."""
    lags: list[float] = []
    start: str = "-"
    while True:
        entries = cast(list[Message], await redis.xrange(stream_name(kind), start, "+", 5_000))
        for entry_id, fields in entries:
            envelope = Envelope.from_stream_fields(fields)
            if not envelope.payload["warmup"]:
                added_ms = int(as_text(entry_id).split("-")[0])
                lags.append(added_ms - envelope.occurred_at.timestamp() * 1000)
        if len(entries) < 5_000:
            break
        start = "(" + as_text(entries[-1][0])
    return Stats("ensemble outbox → relay XADD", lags, wall_s, count=count)


async def main(options: argparse.Namespace) -> int:
    data_dir = options.data_dir.resolve()
    redis_url, embedded_redis = start_redis(data_dir)
    redis = Redis.from_url(redis_url)
    relay: Relay | None = None
    try:
        async with migrated_database(options, 4) as dbs:
            raw_tp, everysec_tp, ours_tp = await throughput(options, dbs.database, dbs.pool, redis)
            report(
                f"relay throughput: {options.events:,} outbox events drained to Redis Streams"
                f" (ms: one page or pass of up to {PAGE})",
                [raw_tp, everysec_tp, ours_tp],
                ratio=(ours_tp, raw_tp),
                throughput_unit="events/s",
            )
            report(
                "the cost of waiting for Redis's disk (decision 16)",
                [everysec_tp, ours_tp],
                ratio=(ours_tp, everysec_tp),
                throughput_unit="events/s",
            )

            kind = f"bench-lag-{new_id().hex[-8:]}"
            relay = Relay.spawn(data_dir, dbs.url, redis_url)
            await relay.until_publishing(dbs.database, dbs.pool, f"{kind}-probe")
            plan = Plan(
                mode="bus",
                database_url=dbs.url,
                redis_url=redis_url,
                kind=kind,
                rate=options.rate,
                warmup_s=options.warmup,
                seconds=options.seconds,
                per_tx=options.per_tx,
                producers=options.producers,
                aggregates=options.aggregates,
            )
            meters = Meters(
                {
                    "relay": relay.cpu_s,
                    "consumer": time.process_time,  # this process
                    "PostgreSQL": lambda: (
                        None
                        if os.environ.get("DATABASE_URL")
                        else tree_cpu_s(data_dir / "postgres" / "postmaster.pid")
                    ),
                    "Redis": lambda: (
                        None
                        if embedded_redis is None
                        else tree_cpu_s(data_dir / "redis" / "redis.pid")
                    ),
                }
            )
            runs: list[LagRun] = []
            try:
                runs.append(
                    await lag_series(
                        "baseline raw XADD → XREADGROUP",
                        plan,
                        lambda got, stop: consume_raw(redis, kind, got, stop),
                        meters,
                    )
                )
                runs.append(
                    await lag_series(
                        f"ensemble {options.producer} → relay → handler",
                        replace(plan, mode=options.producer),
                        lambda got, stop: consume_events(dbs.database, redis, kind, got, stop),
                        meters,
                    )
                )
                relayed = await relay_lags(
                    redis, kind, runs[-1].stats.wall_s or 0.0, plan.measured_events
                )
            finally:
                await redis.delete(
                    raw_lag_stream(kind), stream_name(kind), stream_name(f"{kind}-probe")
                )
    finally:
        if relay is not None:
            relay.stop()
        await redis.aclose()
        if embedded_redis is not None and not options.keep_db:
            embedded_redis.stop()

    raw_lag, ours_lag = runs
    report(
        f"outbox → consumer lag at {options.rate:,.0f} events/s, {options.per_tx} per"
        f" transaction, for {options.seconds:g} s (after {options.warmup:g} s warm-up)",
        [raw_lag.stats, relayed, ours_lag.stats, ours_lag.settled],
        ratio=(ours_lag.settled, raw_lag.stats),
        throughput_unit="events/s",
    )
    for each in runs:
        describe_run(each, plan.events, options.rate)
    ok = verdict("lag p99 (committed + ACKed)", ours_lag.settled.p(99), TARGET_MS)
    achieved = ours_lag.settled.throughput or 0.0
    if achieved < 0.95 * options.rate:
        console.print(
            f"[red]MISS[/] rate: the producer reached {achieved:,.0f} of {options.rate:,.0f}"
            " events/s, so that lag is not the lag at the target rate (see the CPU line:"
            " the parts share this machine's cores)"
        )
        ok = False
    return 0 if ok else 1


def options_parser() -> argparse.ArgumentParser:
    p = parser(__doc__.splitlines()[0] if __doc__ else "relay lag")
    # The relay publishes every pending outbox row of its database: a database of its own,
    # so that other benchmarks' events neither join these series nor go to this Redis.
    p.set_defaults(data_dir=DEFAULT_DATA_DIR / "relay")
    p.add_argument("--events", type=positive, default=20_000, help="outbox events to drain")
    p.add_argument("--rate", type=float, default=1_000.0, help="events/s written in the lag run")
    p.add_argument("--seconds", type=float, default=12.0, help="measured seconds of the lag run")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before them")
    p.add_argument("--per-tx", type=positive, default=1, help="events per producer transaction")
    p.add_argument("--producers", type=positive, default=8, help="concurrent producer tasks")
    p.add_argument("--aggregates", type=positive, default=100, help="aggregates events go to")
    p.add_argument(
        "--producer",
        choices=("publish", "asyncpg"),
        default="publish",
        help="write events with kernel `publish` (SQLAlchemy), or the same rows and NOTIFY"
        " with plain asyncpg (less producer CPU on a small machine)",
    )
    return p


if __name__ == "__main__":
    # `--products`, `--seed`, `--log-level` and `--workers` come with the shared parser; unused.
    run(main, options_parser().parse_args())
