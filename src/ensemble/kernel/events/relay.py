"""The relay: committed outbox rows to Redis Streams, in position order, at least once.

A pass runs in one transaction. It takes a transaction-scoped advisory lock (other relays
stand by until the next pass, so one relay publishes at a time and the order per aggregate
holds), reads unpublished rows below the horizon in position order, appends each envelope
to the stream of its aggregate type, then marks the rows published and commits. A crash
after the append and before the commit leaves the rows unpublished: the next pass sends
them again (consumers dedupe by `event_id`); nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from redis.asyncio import Redis
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import Database
from ensemble.kernel.db.raw import asyncpg_dsn
from ensemble.kernel.events.envelope import Envelope
from ensemble.kernel.events.models import OutboxEvent
from ensemble.kernel.events.outbox import CHANNEL
from ensemble.kernel.observability.tracing import configure_tracing, span
from ensemble.settings import Settings

logger = logging.getLogger(__name__)

RELAY_LOCK = 0x6576_656E_7473  # "events"
STREAM_PREFIX = "events:"
BATCH = 500


def stream_name(aggregate_type: str) -> str:
    return f"{STREAM_PREFIX}{aggregate_type}"


async def try_lock(session: AsyncSession) -> bool:
    """Whether this pass may publish (the lock is released when its transaction ends)."""
    result = await session.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RELAY_LOCK}
    )
    return bool(result.scalar_one())


async def horizon(session: AsyncSession) -> int:
    """The oldest transaction id still running: every transaction below it has finished."""
    stmt = text("SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")
    return int((await session.execute(stmt)).scalar_one())


async def claim_batch(session: AsyncSession, limit: int = BATCH) -> Sequence[OutboxEvent]:
    """Unpublished rows of finished transactions, in position order.

    A row above the horizon waits even if committed: an older transaction still running
    may yet commit a row that must go out before it.
    """
    below = await horizon(session)
    stmt = (
        select(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None), OutboxEvent.xid < below)
        .order_by(OutboxEvent.xid, OutboxEvent.seq)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


def envelope_of(row: OutboxEvent) -> Envelope:
    return Envelope(
        event_id=row.event_id,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        type=row.type,
        version=row.version,
        payload=row.payload,
        trace_id=row.trace_id,
        request_id=row.request_id,
        occurred_at=row.occurred_at,
    )


async def append(redis: Redis, envelopes: Sequence[Envelope]) -> None:
    """XADD each envelope to its stream, in the given order (one round trip)."""
    async with redis.pipeline(transaction=False) as pipe:
        for envelope in envelopes:
            pipe.xadd(stream_name(envelope.aggregate_type), envelope.to_stream_fields())  # type: ignore[arg-type]
        await pipe.execute()


async def mark_published(session: AsyncSession, rows: Sequence[OutboxEvent]) -> None:
    stmt = (
        update(OutboxEvent)
        .where(OutboxEvent.event_id.in_([row.event_id for row in rows]))
        .values(published_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    await session.execute(stmt)


async def relay_once(database: Database, redis: Redis, limit: int = BATCH) -> int | None:
    """One pass: how many events were published, or None if another relay holds the lock."""
    async with database.unit_of_work() as session:
        if not await try_lock(session):
            return None
        rows = await claim_batch(session, limit)
        if rows:
            with span("relay publish", new_trace=True, count=len(rows)):
                await append(redis, [envelope_of(row) for row in rows])
                await mark_published(session, rows)
    return len(rows)


async def _drain(database: Database, redis: Redis) -> None:
    """Passes until the outbox has no full batch left (or another relay holds the lock)."""
    while await relay_once(database, redis) == BATCH:
        pass


async def run_relay(
    settings: Settings, stop: asyncio.Event, *, interval: float | None = None
) -> None:
    """Relay until `stop` is set: at once on NOTIFY, else every `interval` seconds
    (default: the jobs relay interval)."""
    assert settings.database_url is not None
    assert settings.redis_url is not None
    period = interval if interval is not None else settings.events_relay_interval_seconds
    database = Database(settings.database_url, pool_size=2, max_overflow=0)
    redis = Redis.from_url(settings.redis_url)
    wake = asyncio.Event()
    listener = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    await listener.add_listener(CHANNEL, lambda *_: wake.set())
    try:
        while not stop.is_set():
            wake.clear()
            try:
                await _drain(database, redis)
            except Exception:
                logger.exception("event relay pass failed; retrying")
            await _wait(wake, stop, period)
    finally:
        await listener.close()
        await redis.aclose()
        await database.dispose()


async def _wait(wake: asyncio.Event, stop: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
    waiters = [asyncio.ensure_future(event.wait()) for event in (wake, stop)]
    await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()


def serve_relay(settings: Settings) -> None:
    """`ensemble relay`: relay until SIGTERM/SIGINT."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        logger.info("event relay publishing to Redis Streams %s*", STREAM_PREFIX)
        await run_relay(settings, stop)

    configure_tracing(settings, "relay")
    asyncio.run(main())
