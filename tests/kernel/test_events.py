"""The events outbox and relay against the real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import func, select

from ensemble.kernel.db import Database
from ensemble.kernel.events import Envelope, EventPayload, publish
from ensemble.kernel.events.bus import RedisStreamsBus, stream_name
from ensemble.kernel.events.models import OutboxEvent
from ensemble.kernel.events.relay import (
    append,
    claim_batch,
    envelope_of,
    mark_published,
    relay_once,
    run_relay,
    try_lock,
)
from ensemble.kernel.observability.context import RequestContext, bind_request_context
from ensemble.settings import Settings
from tests.polling import eventually


def _event(kind: str, aggregate_id: str = "a1", n: int = 0) -> Envelope:
    return Envelope(aggregate_type=kind, aggregate_id=aggregate_id, type="noted", payload={"n": n})


async def _stream(redis: Redis, kind: str) -> list[Envelope]:
    entries = await redis.xrange(stream_name(kind)) or []
    return [Envelope.from_stream_fields(fields or {}) for _, fields in entries]


async def _pending(database: Database) -> int:
    async with database.sessionmaker() as session:
        stmt = select(func.count()).where(OutboxEvent.published_at.is_(None))
        return int((await session.execute(stmt)).scalar_one())


# Envelope


class ScanV1(EventPayload):
    item: str


class ScanV2(EventPayload):
    item: str
    weight_grams: int | None = None


def test_envelope_round_trips_through_json_and_stream_fields() -> None:
    envelope = Envelope(
        aggregate_type="scan",
        aggregate_id="u-1",
        type="scan.recorded",
        version=2,
        payload={"item": "캔", "nested": {"a": [1, 2]}},
        trace_id="a" * 32,
        request_id="req-1",
    )
    assert Envelope.model_validate_json(envelope.model_dump_json()) == envelope
    fields = envelope.to_stream_fields()
    encoded = {key.encode(): value.encode() for key, value in fields.items()}
    assert Envelope.from_stream_fields(encoded) == envelope
    assert envelope.aggregate_key == "scan:u-1"
    with pytest.raises(ValueError, match="frozen"):
        envelope.type = "other"  # type: ignore[misc]


def test_payload_schemas_read_older_and_newer_versions() -> None:
    old = Envelope(aggregate_type="scan", aggregate_id="u", type="scan", payload={"item": "can"})
    new = Envelope(
        aggregate_type="scan",
        aggregate_id="u",
        type="scan",
        version=2,
        payload={"item": "can", "weight_grams": 15},
    )
    assert old.payload_as(ScanV2) == ScanV2(item="can", weight_grams=None)
    assert new.payload_as(ScanV1) == ScanV1(item="can")


# Outbox and relay


async def test_rolled_back_event_is_never_relayed(
    database: Database, redis: Redis, kind: str
) -> None:
    async with database.sessionmaker() as session:
        await publish(session, _event(kind, n=1))
        await session.rollback()
    async with database.unit_of_work() as session:
        kept = await publish(session, _event(kind, n=2))

    assert await relay_once(database, redis) == 1
    assert [e.event_id for e in await _stream(redis, kind)] == [kept.event_id]
    assert await _pending(database) == 0


async def test_relayed_envelopes_keep_every_field_and_their_order(
    database: Database, redis: Redis, kind: str
) -> None:
    context = RequestContext(request_id="req-42")
    bind_request_context(context)
    written: list[Envelope] = []
    async with database.unit_of_work() as session:
        for n in range(5):
            written.append(await publish(session, _event(kind, f"agg-{n % 2}", n)))

    assert await relay_once(database, redis) == 5
    relayed = await _stream(redis, kind)
    assert relayed == written
    assert {e.trace_id for e in relayed} == {context.trace_id}
    assert {e.request_id for e in relayed} == {"req-42"}
    assert await relay_once(database, redis) == 0, "published rows are not sent again"


async def test_an_append_redis_refuses_raises_and_leaves_the_client_usable(
    redis: Redis, kind: str
) -> None:
    """An error reply to one command of the appends' single write raises (the relay then
    rolls its pass back), and the connection with the replies after it unread is not reused
    (Redis 6.2 knows no WAITAOF: its refusal stands for any error reply)."""
    envelopes = [_event(kind, n=n) for n in range(3)]
    with pytest.raises(ResponseError, match="WAITAOF"):
        await RedisStreamsBus(redis, wait_aof=True).append(envelopes)
    await RedisStreamsBus(redis).append(envelopes[:1])
    assert [e.event_id for e in await _stream(redis, kind)] == [
        *(e.event_id for e in envelopes),
        envelopes[0].event_id,
    ]
    assert await redis.ping()


async def test_a_late_commit_is_never_skipped(database: Database, redis: Redis, kind: str) -> None:
    """T1 writes first and commits last; T2 writes later and commits first. While T1 runs,
    T2's committed row lies beyond the horizon and waits; then T1's goes out before T2's."""
    async with database.sessionmaker() as t1, database.sessionmaker() as t2:
        first = await publish(t1, _event(kind, n=1))
        second = await publish(t2, _event(kind, n=2))
        await t2.commit()

        assert await relay_once(database, redis) == 0
        assert await _stream(redis, kind) == []
        assert await _pending(database) == 1, "T2's row is committed and visible, yet held"

        await t1.commit()

    assert await relay_once(database, redis) == 2
    assert [e.event_id for e in await _stream(redis, kind)] == [first.event_id, second.event_id]
    async with database.sessionmaker() as session:
        rows = (await session.execute(select(OutboxEvent))).scalars().all()
        positions = {row.event_id: (row.xid, row.seq) for row in rows}
    assert positions[first.event_id] < positions[second.event_id]


async def test_a_relay_stands_by_while_another_holds_the_lock(
    database: Database, redis: Redis, kind: str
) -> None:
    async with database.unit_of_work() as session:
        await publish(session, _event(kind))
    async with database.sessionmaker() as holder:
        assert await try_lock(holder)
        assert await relay_once(database, redis) is None
        await holder.rollback()
    assert await relay_once(database, redis) == 1


async def test_a_relay_dying_between_append_and_mark_publishes_again(
    database: Database, redis: Redis, kind: str
) -> None:
    async with database.unit_of_work() as session:
        events = [await publish(session, _event(kind, n=n)) for n in range(3)]

    async with database.sessionmaker() as dying:
        assert await try_lock(dying)
        rows = await claim_batch(dying)
        await append(redis, [envelope_of(row) for row in rows])
        await mark_published(dying, rows)
        await dying.rollback()  # the crash: the stream has them, the marks are lost

    assert await relay_once(database, redis) == 3
    ids = [e.event_id for e in events]
    assert [e.event_id for e in await _stream(redis, kind)] == ids + ids
    assert await _pending(database) == 0


async def test_two_relays_publish_every_event_in_order_per_aggregate(
    database: Database, redis: Redis, kind: str, settings: Settings
) -> None:
    aggregates, per_aggregate = 20, 25
    stop = asyncio.Event()
    relays = [asyncio.create_task(run_relay(settings, stop, interval=0.02)) for _ in range(2)]

    async def write(aggregate: str) -> None:
        n = 0
        while n < per_aggregate:
            async with database.unit_of_work() as session:
                for _ in range(min(random.randint(1, 3), per_aggregate - n)):
                    await publish(session, _event(kind, aggregate, n))
                    n += 1

    try:
        await asyncio.gather(*(write(f"agg-{i}") for i in range(aggregates)))
        relayed = await eventually(
            lambda: _stream(redis, kind),
            lambda got: len({e.event_id for e in got}) >= aggregates * per_aggregate,
        )
    finally:
        stop.set()
        await asyncio.gather(*relays)

    async with database.sessionmaker() as session:
        written = (await session.execute(select(OutboxEvent.event_id))).scalars().all()
    assert {e.event_id for e in relayed} == set(written)
    assert len(written) == aggregates * per_aggregate
    order: dict[str, list[int]] = defaultdict(list)
    seen: set[uuid.UUID] = set()
    for envelope in relayed:  # first deliveries; a redelivery may repeat, never reorder
        if envelope.event_id not in seen:
            seen.add(envelope.event_id)
            order[envelope.aggregate_id].append(envelope.payload["n"])
    assert order == {f"agg-{i}": list(range(per_aggregate)) for i in range(aggregates)}
    assert await _pending(database) == 0


async def test_a_lingering_relay_misses_no_commit_and_listens_again(
    database: Database, redis: Redis, kind: str, settings: Settings
) -> None:
    """Between passes under load the relay does not listen; what commits meanwhile goes out
    with the next pass, and the relay is woken again once idle (never by the interval)."""
    stop = asyncio.Event()
    relay = asyncio.create_task(run_relay(settings, stop, interval=60, linger=0.5))
    sent: list[uuid.UUID] = []

    async def publish_one(n: int) -> None:
        async with database.unit_of_work() as session:
            sent.append((await publish(session, _event(kind, n=n))).event_id)
        await eventually(lambda: _stream(redis, kind), lambda got: len(got) == len(sent), timeout=5)

    try:
        for n in range(3):  # the second commits while the relay lingers after the first
            await publish_one(n)
    finally:
        stop.set()
        await relay
    assert [e.event_id for e in await _stream(redis, kind)] == sent
