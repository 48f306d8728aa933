"""The relay: committed outbox rows to the event bus, in position order, at least once.

A pass runs in one transaction. It takes a transaction-scoped advisory lock (other relays
stand by until the next pass, so one relay publishes at a time and the order per aggregate
holds), reads unpublished rows below the horizon in position order, appends each envelope
to the bus (the stream or topic of its aggregate type, see `kernel.events.bus`; on Redis
the append returns once the server has it on disk, decision 16), then marks the rows
published and commits. A crash after the append and before the commit
leaves the rows unpublished: the next pass sends them again (consumers dedupe by
`event_id`); nothing is lost.

The pass commits without waiting for its WAL flush (`synchronous_commit = off`): a marking
lost in a database crash only sends its rows again, as above, and the relay does not
wait for the disk between passes. Its reads and the marking are plain SQL in the pass's
transaction (passes run hundreds of times a second under load; the ORM statements cost
several times the round trips).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import Database
from ensemble.kernel.db.raw import asyncpg_dsn, transaction_connection
from ensemble.kernel.events.bus import EventBus, RedisStreamsBus, as_bus, event_bus
from ensemble.kernel.events.envelope import Envelope
from ensemble.kernel.events.models import SCHEMA, OutboxEvent
from ensemble.kernel.events.outbox import CHANNEL
from ensemble.kernel.heartbeat import heartbeat
from ensemble.kernel.lifecycle import run_until_signalled
from ensemble.kernel.observability.tracing import configure_tracing, span
from ensemble.settings import Settings

logger = logging.getLogger(__name__)

RELAY_LOCK = 0x6576_656E_7473  # "events"
BATCH = 500
LINGER_SECONDS = 0.01  # passes start at most this often while events keep coming

_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")
_PASS = "SELECT pg_try_advisory_xact_lock($1), set_config('synchronous_commit', 'off', true)"
_OUTBOX = f"{SCHEMA}.{OutboxEvent.__tablename__}"
# The oldest transaction id still running: every transaction below it has finished.
HORIZON = "(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"
_CLAIM = f"""
SELECT event_id, aggregate_type, aggregate_id, type, version, payload, trace_id, request_id,
       occurred_at
FROM {_OUTBOX}
WHERE published_at IS NULL AND xid < {HORIZON}
ORDER BY xid, seq
LIMIT $1
"""
_MARK = f"UPDATE {_OUTBOX} SET published_at = $2 WHERE event_id = ANY($1::uuid[])"


async def try_lock(session: AsyncSession) -> bool:
    """Whether this pass may publish (the lock is released when its transaction ends)."""
    result = await session.execute(_LOCK, {"key": RELAY_LOCK})
    return bool(result.scalar_one())


async def claim_batch(session: AsyncSession, limit: int = BATCH) -> Sequence[asyncpg.Record]:
    """Unpublished rows of finished transactions, in position order.

    A row above the horizon waits even if committed: an older transaction still running
    may yet commit a row that must go out before it. The horizon is taken from the
    statement's own snapshot, the one its rows are read in.
    """
    raw = await transaction_connection(session)
    rows: list[asyncpg.Record] = await raw.fetch(_CLAIM, limit)
    return rows


def envelope_of(row: asyncpg.Record) -> Envelope:
    """The envelope of an outbox row (validated when it was written)."""
    payload = row["payload"]  # decoded by SQLAlchemy's codec on its pool's connections
    return Envelope.model_construct(
        event_id=row["event_id"],
        aggregate_type=row["aggregate_type"],
        aggregate_id=row["aggregate_id"],
        type=row["type"],
        version=row["version"],
        payload=json.loads(payload) if isinstance(payload, str) else payload,
        trace_id=row["trace_id"],
        request_id=row["request_id"],
        occurred_at=row["occurred_at"],
    )


async def append(bus: EventBus | Redis, envelopes: Sequence[Envelope]) -> None:
    """Append the envelopes to the bus, in the given order (a Redis client: to its streams)."""
    await as_bus(bus).append(envelopes)


async def mark_published(session: AsyncSession, rows: Sequence[asyncpg.Record]) -> None:
    raw = await transaction_connection(session)
    await raw.execute(_MARK, [row["event_id"] for row in rows], datetime.now(UTC))


async def relay_once(database: Database, redis: Redis | EventBus, limit: int = BATCH) -> int | None:
    """One pass: how many events were published (to the streams of `redis`, or to the bus
    given instead), or None if another relay holds the lock."""
    async with database.unit_of_work() as session:
        raw = await transaction_connection(session)
        locked, _ = await raw.fetchrow(_PASS, RELAY_LOCK) or (False, None)
        if not locked:
            return None
        rows = await claim_batch(session, limit)
        if rows:
            with span("relay publish", new_trace=True, count=len(rows)):
                await append(redis, [envelope_of(row) for row in rows])
                await mark_published(session, rows)
    return len(rows)


async def _drain(database: Database, bus: EventBus) -> None:
    """Passes until the outbox has no full batch left (or another relay holds the lock)."""
    while await relay_once(database, bus) == BATCH:
        pass


async def run_relay(
    settings: Settings,
    stop: asyncio.Event,
    *,
    interval: float | None = None,
    linger: float = LINGER_SECONDS,
) -> None:
    """Relay until `stop` is set: at once on NOTIFY, else every `interval` seconds
    (default: `EVENTS_RELAY_INTERVAL_SECONDS`). A pass starts at most every `linger`
    seconds: under a stream of commits (a NOTIFY each) the next pass takes what arrived
    meanwhile in one batch instead of running once per commit; a quiet outbox's first
    event goes out at once."""
    assert settings.database_url is not None
    assert settings.redis_url is not None
    period = interval if interval is not None else settings.events_relay_interval_seconds
    database = Database(settings.database_url, pool_size=2, max_overflow=0)
    redis = Redis.from_url(settings.redis_url)
    bus = await _persisting(event_bus(settings, redis))
    wake = asyncio.Event()
    listener = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    woken = Listening(listener, lambda *_: wake.set())
    await woken.listen()
    loop = asyncio.get_running_loop()
    try:
        async with bus:
            logger.info("event relay publishing to %s", bus)
            while not stop.is_set():
                wake.clear()
                started = loop.time()
                try:
                    await _drain(database, bus)
                except Exception:
                    logger.exception("event relay pass failed; retrying")
                await _wait(wake, stop, period)
                pause = started + linger - loop.time()
                if pause > 0 and not stop.is_set():
                    await woken.deaf_for(pause)
    finally:
        await listener.close()
        await redis.aclose()
        await database.dispose()


@dataclass
class Listening:
    """The relay's wake-up: `on_notify` for each commit that published, on `listener`."""

    listener: asyncpg.Connection[asyncpg.Record]
    on_notify: Callable[..., None]
    failed: bool = False

    async def listen(self) -> None:
        await self.listener.add_listener(CHANNEL, self.on_notify)

    async def deaf_for(self, seconds: float) -> None:
        """Sleep without listening: a relay lingering before its next pass needs no wake-up,
        and under load every commit sends one (a message PostgreSQL sends and this process
        reads: about 40 µs of this process's CPU each). The pass after the sleep starts after
        listening again, so it sees every commit whose wake-up it missed. If the connection
        fails, the relay goes on without wake-ups (a pass every interval), as it does when
        the connection fails while listening."""
        if self.failed:
            await asyncio.sleep(seconds)
            return
        try:
            await self.listener.remove_listener(CHANNEL, self.on_notify)
            await asyncio.sleep(seconds)
            await self.listen()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self.failed = True
            logger.warning("event relay: its LISTEN connection failed", exc_info=True)


async def _persisting(bus: EventBus) -> EventBus:
    """On Redis Streams, a bus whose appends return once on Redis's disk (decision 16)."""
    return await bus.persisting() if isinstance(bus, RedisStreamsBus) else bus


async def _wait(wake: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
    waiters = [asyncio.ensure_future(event.wait()) for event in (wake, stop)]
    await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()


def serve_relay(settings: Settings) -> None:
    """`ensemble relay`: relay until SIGTERM/SIGINT."""
    configure_tracing(settings, "relay")
    with heartbeat(settings, "relay"):
        run_until_signalled(lambda stop: run_relay(settings, stop))
