"""Retention of the event backbone: what is done with is forgotten, nothing still needed.

- **Outbox rows** published more than `EVENTS_RETENTION_HOURS` ago are deleted (the bus
  and the event store hold the events; the row only said it was sent).
- **Processed-event records** older than that are deleted, except those of an event with a
  dead letter not yet re-driven: a re-drive sends the event to every group of its stream
  again, and the groups that handled it must still find their record and skip it. Keep the
  setting well above any redelivery window (a reclaim happens within `EVENTS_CLAIM_IDLE_MS`).
- **Stream entries** are trimmed (`XTRIM MINID`) below the slowest consumer group's
  progress: the oldest entry a group has pending (delivered, not acknowledged), else its
  last delivered entry, over every group of the stream. An entry a group has not
  acknowledged is never trimmed, nor one younger than `EVENTS_STREAM_RETENTION_HOURS`
  (a consumer group created later starts from what is left; the event store keeps the
  history). A stream no group reads is left as it is. On Kafka, retention is the broker's.
- **Group members** with nothing pending and idle that long are removed (every start of a
  consumer process joins its groups under a new member name).

Both run as kernel periodic jobs (`events.prune`, `events.trim_streams`) sent by the
scheduler's leader; see docs/decisions/0017-retention.md.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from redis.asyncio import Redis
from sqlalchemy import Delete, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.events.bus import STREAM_PREFIX
from ensemble.kernel.events.envelope import as_text
from ensemble.kernel.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from ensemble.kernel.jobs.definition import job
from ensemble.kernel.resources import current_process

logger = logging.getLogger(__name__)

EVERY = timedelta(minutes=10)
StreamId = tuple[int, int]


async def prune_event_tables(session: AsyncSession, older_than: timedelta) -> dict[str, int]:
    """Delete published outbox rows, processed-event records and re-driven dead letters
    older than `older_than` (see the module); how many rows of each table."""
    cutoff = func.now() - older_than
    awaiting_redrive = exists(
        select(DeadLetter.id).where(
            DeadLetter.event_id == ProcessedEvent.event_id, DeadLetter.reprocessed_at.is_(None)
        )
    )
    statements = {
        "outbox": delete(OutboxEvent).where(OutboxEvent.published_at < cutoff),
        "processed_events": delete(ProcessedEvent).where(
            ProcessedEvent.processed_at < cutoff, ~awaiting_redrive
        ),
        "dead_letters": delete(DeadLetter).where(DeadLetter.reprocessed_at < cutoff),
    }
    return {table: await deleted(session, statement) for table, statement in statements.items()}


async def deleted(session: AsyncSession, statement: Delete) -> int:
    """Run a DELETE; how many rows it deleted."""
    result = await session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]


def parse_id(entry_id: bytes | str) -> StreamId:
    milliseconds, _, sequence = as_text(entry_id).partition("-")
    return int(milliseconds), int(sequence or 0)


async def group_floor(redis: Redis, stream: str) -> StreamId | None:
    """The oldest entry of `stream` some consumer group still needs (see the module), or
    None when no group reads it."""
    floors: list[StreamId] = []
    for group in await redis.xinfo_groups(stream):
        if group["pending"]:
            summary = await redis.xpending(stream, group["name"])
            floors.append(parse_id(summary["min"]))
        else:
            floors.append(parse_id(group["last-delivered-id"]))
    return min(floors, default=None)


async def trim_stream(redis: Redis, stream: str, keep: timedelta) -> int:
    """Trim `stream` below its groups' floor and its retention age; entries removed."""
    floor = await group_floor(redis, stream)
    if floor is None:
        return 0
    young = (int((time.time() - keep.total_seconds()) * 1000), 0)
    milliseconds, sequence = min(floor, young)
    trimmed: int = await redis.xtrim(stream, minid=f"{milliseconds}-{sequence}", approximate=False)
    return trimmed


async def forget_idle_members(redis: Redis, stream: str, idle: timedelta) -> int:
    """Remove group members with nothing pending, idle longer than `idle` (each restart of
    a consumer process joins under a new name; a live member idle that long is simply
    added again by its next read); how many."""
    forgotten = 0
    for group in await redis.xinfo_groups(stream):
        for member in await redis.xinfo_consumers(stream, group["name"]):
            if not member["pending"] and member["idle"] > idle.total_seconds() * 1000:
                await redis.xgroup_delconsumer(stream, group["name"], member["name"])
                forgotten += 1
    return forgotten


async def trim_streams(redis: Redis, keep: timedelta) -> dict[str, int]:
    """Trim every event stream (`events:*`) and forget its idle group members; entries
    removed per stream."""
    streams = [
        as_text(name)
        async for name in redis.scan_iter(match=f"{STREAM_PREFIX}*", _type="stream", count=1000)
    ]
    trimmed = {stream: await trim_stream(redis, stream, keep) for stream in streams}
    for stream in streams:
        await forget_idle_members(redis, stream, keep)
    return trimmed


@job("events.prune", every=EVERY)
async def prune_events(session: AsyncSession) -> None:
    """Periodic: `prune_event_tables` with `EVENTS_RETENTION_HOURS`."""
    older_than = timedelta(hours=current_process().settings.events_retention_hours)
    logger.info("pruned event rows: %s", await prune_event_tables(session, older_than))


@job("events.trim_streams", every=EVERY)
async def trim_event_streams(_: AsyncSession) -> None:
    """Periodic: `trim_streams` with `EVENTS_STREAM_RETENTION_HOURS` (Redis Streams only)."""
    process = current_process()
    if process.settings.event_bus_url is not None or process.redis is None:
        return
    keep = timedelta(hours=process.settings.events_stream_retention_hours)
    trimmed = await trim_streams(process.redis, keep)
    logger.info("trimmed %s stream entries", sum(trimmed.values()))


EVENT_RETENTION_JOBS = (prune_events, trim_event_streams)
