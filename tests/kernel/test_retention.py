"""Retention: old published outbox rows, processed-event records, re-driven dead letters and
dead jobs, relayed job rows are deleted; stream entries are trimmed below the slowest
consumer group, never past what a group has not acknowledged."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select

from ensemble.kernel.db import Database, new_id, utcnow
from ensemble.kernel.events.bus import stream_name
from ensemble.kernel.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from ensemble.kernel.events.retention import (
    forget_idle_members,
    group_floor,
    parse_id,
    prune_event_tables,
    trim_stream,
    trim_streams,
)
from ensemble.kernel.jobs.maintenance import KERNEL_JOBS, prune_outbox
from ensemble.kernel.jobs.models import OutboxJob, TaskFailure
from ensemble.settings import Settings
from tests.outboxes import Outboxes

LONG_AGO = timedelta(days=30)
KEEP = timedelta(days=7)


def outbox_row(published_at: datetime | None) -> OutboxEvent:
    return OutboxEvent(
        event_id=new_id(),
        aggregate_type="retention",
        aggregate_id="a",
        type="noted",
        version=1,
        payload={},
        occurred_at=utcnow(),
        published_at=published_at,
    )


def letter(event_id: uuid.UUID, reprocessed_at: datetime | None) -> DeadLetter:
    return DeadLetter(
        consumer="c",
        stream="events:retention",
        event_id=event_id,
        envelope={},
        error="boom",
        attempts=3,
        reprocessed_at=reprocessed_at,
    )


async def test_old_event_rows_are_pruned_and_what_a_redrive_needs_is_kept(
    database: Database,
) -> None:
    old, now = utcnow() - LONG_AGO, utcnow()
    awaiting, handled, recent = new_id(), new_id(), new_id()
    async with database.unit_of_work() as session:
        kept_rows = [outbox_row(now), outbox_row(None)]
        session.add_all([outbox_row(old), *kept_rows])
        session.add_all(
            [
                ProcessedEvent(consumer="c", event_id=awaiting, processed_at=old),
                ProcessedEvent(consumer="c", event_id=handled, processed_at=old),
                ProcessedEvent(consumer="c", event_id=recent, processed_at=now),
                letter(awaiting, None),  # pending: its re-drive must find `awaiting`
                letter(handled, old),  # re-driven long ago
                letter(recent, now),
            ]
        )
    async with database.unit_of_work() as session:
        counts = await prune_event_tables(session, KEEP)
    assert counts == {"outbox": 1, "processed_events": 1, "dead_letters": 1}
    async with database.sessionmaker() as session:
        outbox = set((await session.scalars(select(OutboxEvent.event_id))).all())
        processed = set((await session.scalars(select(ProcessedEvent.event_id))).all())
        letters = set((await session.scalars(select(DeadLetter.event_id))).all())
    assert outbox == {row.event_id for row in kept_rows}, "recent and unpublished rows stay"
    assert processed == {awaiting, recent}
    assert letters == {awaiting, recent}


async def test_relayed_job_rows_and_redriven_dead_jobs_are_pruned(
    settings: Settings, database: Database, redis: Redis
) -> None:
    old = utcnow() - LONG_AGO
    async with database.unit_of_work() as session:
        session.add_all(
            [
                OutboxJob(job="old", kwargs={}, dispatched_at=old),
                OutboxJob(job="recent", kwargs={}, dispatched_at=utcnow()),
                OutboxJob(job="due", kwargs={}, run_at=old),
                *(
                    TaskFailure(
                        job=name,
                        message_id="m",
                        kwargs={},
                        attempts=3,
                        error_type="E",
                        error="boom",
                        reprocessed_at=at,
                    )
                    for name, at in [("redriven", old), ("dead", None)]
                ),
            ]
        )
    await Outboxes(settings, database, redis, []).run(prune_outbox)
    async with database.sessionmaker() as session:
        jobs = sorted((await session.scalars(select(OutboxJob.job))).all())
        failures = sorted((await session.scalars(select(TaskFailure.job))).all())
    assert jobs == ["due", "recent"]
    assert failures == ["dead"], "a dead job not re-driven stays"


def test_the_scheduler_sends_the_retention_jobs() -> None:
    periodic = {job.name for job in KERNEL_JOBS if job.every is not None}
    assert {"jobs.prune_outbox", "events.prune", "events.trim_streams"} <= periodic


async def entries(redis: Redis, stream: str) -> list[object]:
    return [entry_id for entry_id, _ in await redis.xrange(stream) or []]


async def test_a_stream_is_trimmed_below_its_slowest_group_only(redis: Redis, kind: str) -> None:
    stream = stream_name(kind)
    ids = [await redis.xadd(stream, {"n": str(n)}) for n in range(10)]
    await redis.xgroup_create(stream, "fast", id="0")
    await redis.xgroup_create(stream, "slow", id="0")
    assert await group_floor(redis, stream) == (0, 0)
    assert await trim_stream(redis, stream, timedelta(0)) == 0, "nothing read yet"

    await redis.xreadgroup("fast", "m", {stream: ">"})
    await redis.xack(stream, "fast", *ids)
    await redis.xreadgroup("slow", "m", {stream: ">"}, count=6)
    await redis.xack(stream, "slow", *ids[:3])  # 3, 4 and 5 delivered, not acknowledged
    assert await trim_stream(redis, stream, timedelta(hours=1)) == 0, "all younger than 1 h"
    assert await trim_stream(redis, stream, timedelta(0)) == 3
    assert await entries(redis, stream) == ids[3:]

    await redis.xack(stream, "slow", *ids[3:6])
    await redis.xreadgroup("slow", "m", {stream: ">"})  # 6 to 9 now pending
    assert await trim_stream(redis, stream, timedelta(0)) == 3
    assert await entries(redis, stream) == ids[6:]
    assert await forget_idle_members(redis, stream, timedelta(0)) == 1, "not one with pending"
    assert [m["name"] for m in await redis.xinfo_consumers(stream, "slow")] == [b"m"]
    await redis.xack(stream, "slow", *ids[6:])
    trimmed = await trim_streams(redis, timedelta(0))
    assert trimmed[stream] == 3, "every group done: down to the last delivered entry"
    assert await entries(redis, stream) == ids[9:]
    assert parse_id(ids[9]) == await group_floor(redis, stream)
    members = [await redis.xinfo_consumers(stream, group) for group in ("fast", "slow")]
    assert members == [[], []], "members with nothing pending, idle past the age, forgotten"


async def test_a_stream_no_group_reads_is_left_alone(redis: Redis, kind: str) -> None:
    stream = stream_name(kind)
    await redis.xadd(stream, {"n": "1"})
    assert await trim_stream(redis, stream, timedelta(0)) == 0
    assert await redis.xlen(stream) == 1
