"""What the admin's events debug routes read of the kernel's event bus and outbox: the
transport, the relay's lag, consumers' positions, Redis stream groups, the last events;
and the test event they publish (`casino.debug`, through the outbox like any event)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.actions.domain import strip_personal
from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.events import AGGREGATE_DEBUG, DebugEvent
from ensemble.kernel.events import Envelope, outbox
from ensemble.kernel.events.bus import STREAM_PREFIX
from ensemble.kernel.events.envelope import as_text
from ensemble.kernel.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from ensemble.settings import Settings


def transport(settings: Settings) -> str:
    """The bus the relay appends to (`EVENT_BUS_URL`: Kafka when set, else Redis Streams)."""
    return "kafka" if settings.event_bus_url is not None else "redis-streams"


async def relay_lag(session: AsyncSession, now: datetime) -> dict[str, Any]:
    """How far the relay is behind: events not yet on the bus, and the oldest one's age."""
    pending = (
        await session.execute(
            select(func.count(), func.min(OutboxEvent.occurred_at)).where(
                OutboxEvent.published_at.is_(None)
            )
        )
    ).one()
    oldest: datetime | None = pending[1]
    lag = (now - oldest).total_seconds() if oldest is not None else 0.0
    return {"pending": pending[0], "oldest_pending_at": oldest, "lag_seconds": max(lag, 0.0)}


async def consumer_positions(session: AsyncSession, known: Sequence[str]) -> list[dict[str, Any]]:
    """Each consumer's handled events and latest one (as long as they are kept), and its
    dead letters not re-driven: those in `known` and any other that left a trace."""
    processed = {
        row.consumer: row
        for row in await session.execute(
            select(
                ProcessedEvent.consumer,
                func.count().label("processed"),
                func.max(ProcessedEvent.processed_at).label("last"),
            ).group_by(ProcessedEvent.consumer)
        )
    }
    not_redriven = (
        select(DeadLetter.consumer, func.count())
        .where(DeadLetter.reprocessed_at.is_(None))
        .group_by(DeadLetter.consumer)
    )
    dead = dict((await session.execute(not_redriven)).all())
    return [
        {
            "consumer": name,
            "processed": processed[name].processed if name in processed else 0,
            "last_processed_at": processed[name].last if name in processed else None,
            "dead_letters": dead.get(name, 0),
        }
        for name in sorted({*known, *processed, *dead})
    ]


async def stream_groups(redis: Redis) -> list[dict[str, Any]]:
    """Every consumer group of every event stream (`events:*`): last delivered entry,
    pending (delivered, unacknowledged) and lag (not yet delivered)."""
    found = []
    async for name in redis.scan_iter(match=f"{STREAM_PREFIX}*", _type="stream", count=1000):
        stream = as_text(name)
        for group in await redis.xinfo_groups(stream):
            found.append(
                {
                    "stream": stream,
                    "group": as_text(group["name"]),
                    "last_delivered_id": as_text(group["last-delivered-id"]),
                    "pending": group["pending"],
                    "lag": group.get("lag"),
                }
            )
    return sorted(found, key=lambda each: (each["stream"], each["group"]))


async def last_events(
    session: AsyncSession, *, type: str | None, limit: int
) -> list[dict[str, Any]]:
    """The last `limit` events of the outbox (of one type), the newest first, their
    payloads stripped of personal data."""
    query = select(OutboxEvent).order_by(OutboxEvent.seq.desc()).limit(limit)
    if type is not None:
        query = query.where(OutboxEvent.type == type)
    rows = (await session.scalars(query)).all()
    return [_shown(row) for row in rows]


def _shown(row: OutboxEvent) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "type": row.type,
        "aggregate_type": row.aggregate_type,
        "aggregate_id": row.aggregate_id,
        "version": row.version,
        "payload": strip_personal(row.payload),
        "occurred_at": row.occurred_at,
        "published_at": row.published_at,
    }


async def produce(
    session: AsyncSession, admin_id: uuid.UUID, message: str, data: dict[str, Any]
) -> Envelope:
    """Publish a `casino.debug` event (sent to the bus by the relay after commit)."""
    payload = DebugEvent(message=message, data=data, produced_by=admin_id)
    envelope = Envelope.of(payload, aggregate_type=AGGREGATE_DEBUG, aggregate_id=str(admin_id))
    written = await outbox.publish(session, envelope)
    await audit.record(
        session, admin_id, "event.produce", "event", written.event_id, {"message": message}
    )
    return written
