"""Read-model projections against the real PostgreSQL and Redis: live consumption, rebuild
from the event store with the same result, idempotent redelivery, and readers during a
rebuild."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from ensemble.kernel.db import Database
from ensemble.kernel.events import Envelope, EventPayload
from ensemble.kernel.events.bus import stream_name
from ensemble.kernel.events.envelope import as_text
from ensemble.kernel.events.projection import (
    Namespace,
    Projection,
    apply_live,
    generations,
    projection,
    projection_consumer,
    read,
    rebuild,
)
from ensemble.kernel.events.relay import relay_once
from ensemble.kernel.events.runner import ConsumerRunner, Message
from ensemble.kernel.events.store import append, last_sequence
from ensemble.kernel.jobs.definition import RetryPolicy
from tests.rebuilds import reading_mid_rebuild

FAST = RetryPolicy(max_retries=2, min_backoff_ms=1, max_backoff_ms=5)
MONDAY = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)

Model = dict[str, Any]
Scored = list[tuple[bytes, float]]


class ItemAcquired(EventPayload, type="item.acquired"):
    item: str
    points: int


class ItemLost(EventPayload, type="item.lost"):
    item: str


def owned_items(kind: str) -> Projection:
    """The example: each user's owned items, and a weekly ranking of points acquired."""

    @projection(f"owned-{kind}", aggregate_types=[kind], types=[ItemAcquired, ItemLost])
    async def apply(pipe: Pipeline, ns: Namespace, envelope: Envelope) -> None:
        user, item = envelope.aggregate_id, str(envelope.payload["item"])
        if envelope.type == ItemLost.TYPE:
            pipe.srem(ns.key("owned", user), item)
            return
        pipe.sadd(ns.key("owned", user), item)
        year, week, _ = envelope.occurred_at.isocalendar()
        ranking = ns.key("ranking", f"{year}-W{week:02d}")
        pipe.zincrby(ranking, int(envelope.payload["points"]), user)

    return apply


def acquired(kind: str, user: str, item: str, points: int, at: datetime) -> Envelope:
    return Envelope(
        aggregate_type=kind,
        aggregate_id=user,
        type=ItemAcquired.TYPE,
        payload={"item": item, "points": points},
        occurred_at=at,
    )


def lost(kind: str, user: str, item: str, at: datetime) -> Envelope:
    return Envelope(
        aggregate_type=kind,
        aggregate_id=user,
        type=ItemLost.TYPE,
        payload={"item": item},
        occurred_at=at,
    )


async def _append(database: Database, events: list[Envelope]) -> None:
    """Append the events to their users' streams (in order) and publish them."""
    async with database.unit_of_work() as session:
        for user in dict.fromkeys(each.aggregate_id for each in events):
            own = [each for each in events if each.aggregate_id == user]
            kind = own[0].aggregate_type
            await append(
                session,
                aggregate_type=kind,
                aggregate_id=user,
                expected_sequence=await last_sequence(session, kind, user),
                events=own,
                publish=True,
            )


async def _runner(database: Database, redis: Redis, model: Projection) -> ConsumerRunner:
    runner = ConsumerRunner(database, redis, projection_consumer(model, redis, retry=FAST))
    await runner.ensure_groups()
    return runner


async def _deliver(database: Database, runner: ConsumerRunner) -> None:
    """Relay everything written so far and consume it live."""
    while await relay_once(database, redis=runner.redis):
        pass
    while await runner.run_once(block_ms=None):
        pass


async def _dump(redis: Redis, model: Projection) -> Model:
    """The current generation's read model: each key (without its generation prefix) with
    its sorted members or its members and scores, bookkeeping keys left out."""

    async def reader(ns: Namespace) -> Model:
        content: Model = {}
        async for raw in redis.scan_iter(match=f"{ns.prefix}:*"):
            key = as_text(raw)
            name = key.removeprefix(f"{ns.prefix}:")
            if name.startswith("~"):
                continue
            if as_text(await redis.type(key)) == "set":
                content[name] = sorted(as_text(m) for m in await redis.smembers(key))
            else:
                pairs = await redis.zrange(key, 0, -1, withscores=True)
                content[name] = [(as_text(m), float(s)) for m, s in cast(Scored, pairs)]
        return content

    return await read(redis, model, reader)


def _history(kind: str) -> list[Envelope]:
    week2 = MONDAY + timedelta(days=7)
    return [
        acquired(kind, "ann", "sword", 5, MONDAY),
        acquired(kind, "bob", "shield", 3, MONDAY + timedelta(hours=1)),
        acquired(kind, "ann", "bow", 2, MONDAY + timedelta(hours=2)),
        lost(kind, "ann", "sword", MONDAY + timedelta(hours=3)),
        acquired(kind, "bob", "sword", 4, week2),
        acquired(kind, "ann", "sword", 1, week2 + timedelta(hours=1)),
    ]


EXPECTED: Model = {
    "owned:ann": ["bow", "sword"],
    "owned:bob": ["shield", "sword"],
    "ranking:2025-W10": [("bob", 3.0), ("ann", 7.0)],
    "ranking:2025-W11": [("ann", 1.0), ("bob", 4.0)],
}


async def test_a_rebuild_from_the_store_equals_the_live_read_model(
    database: Database, redis: Redis, kind: str
) -> None:
    model = owned_items(kind)
    runner = await _runner(database, redis, model)
    history = _history(kind)
    await _append(database, history[:3])
    await _deliver(database, runner)
    await _append(database, history[3:])
    await _deliver(database, runner)
    live = await _dump(redis, model)
    assert live == EXPECTED
    current, _building = await generations(redis, model)
    assert current is not None
    old_prefix = model.namespace(current).prefix

    async with database.sessionmaker() as session:
        result = await rebuild(session, redis, model)

    assert (result.events, result.applied, result.caught_up) == (6, 6, 0)
    assert result.dropped_keys == len(EXPECTED) + 1  # the data and its applied set
    assert await _dump(redis, model) == live
    assert [key async for key in redis.scan_iter(match=f"{old_prefix}:*")] == []

    async with database.sessionmaker() as session:
        again = await rebuild(session, redis, model)
    assert again.generation > result.generation
    assert await _dump(redis, model) == live


async def test_a_duplicate_delivery_does_not_double_count(
    database: Database, redis: Redis, kind: str
) -> None:
    model = owned_items(kind)
    runner = await _runner(database, redis, model)
    await _append(database, _history(kind))
    await _deliver(database, runner)
    before = await _dump(redis, model)

    stream = stream_name(kind)
    entries = cast(list[Message], await redis.xrange(stream))
    for message_id, fields in entries[:2]:  # redelivered to the consumer
        assert await runner.handle(stream, message_id, fields) == "duplicate"
    first = Envelope.from_stream_fields(entries[0][1])
    assert await apply_live(redis, model, first) is False  # past the DB check: Redis skips it

    assert await _dump(redis, model) == before == EXPECTED


async def test_an_event_consumed_during_a_rebuild_is_in_the_rebuilt_model(
    database: Database, redis: Redis, kind: str
) -> None:
    base = owned_items(kind)
    late = acquired(kind, "cat", "axe", 9, MONDAY + timedelta(days=8))
    started: list[int] = []

    async def apply(pipe: Pipeline, ns: Namespace, envelope: Envelope) -> None:
        """The example, but the rebuild's first event waits for a late live delivery."""
        live, _building = await generations(redis, model)
        if ns.generation != live and not started:
            started.append(ns.generation)
            await _append(database, [late])
            await _deliver(database, runner)
        await base.apply(pipe, ns, envelope)

    model = replace(base, apply=apply)
    runner = await _runner(database, redis, model)
    await _append(database, _history(kind))
    await _deliver(database, runner)
    done: list[int] = []

    async with database.sessionmaker() as session:
        result = await rebuild(session, redis, model, progress=done.append, chunk=2)

    expected = {**EXPECTED, "owned:cat": ["axe"]}
    expected["ranking:2025-W11"] = [("ann", 1.0), ("bob", 4.0), ("cat", 9.0)]
    assert await _dump(redis, model) == expected
    assert (result.events, result.caught_up, result.applied) == (6, 1, 7)
    assert done == [2, 4, 6]


async def test_readers_never_see_an_empty_model_during_a_rebuild(
    database: Database, redis: Redis, kind: str
) -> None:
    model = owned_items(kind)
    runner = await _runner(database, redis, model)
    events = [
        acquired(kind, f"u{n % 50}", f"i{n}", n % 7 + 1, MONDAY + timedelta(minutes=n))
        for n in range(1500)
    ]
    await _append(database, events)
    await _deliver(database, runner)
    live = await _dump(redis, model)
    assert len(live) == 50 + 1
    done = asyncio.Event()
    seen: list[Model] = []
    mid_rebuild: list[Model] = []

    async def look() -> None:
        mid_rebuild.append(await _dump(redis, model))

    async def keep_reading() -> None:  # also across each switch, as its turns fall
        while not done.is_set():
            seen.append(await _dump(redis, model))
            await asyncio.sleep(0)

    async def rebuild_twice() -> None:
        looking = reading_mid_rebuild(model, redis, look, every=300)
        for _ in range(2):
            async with database.sessionmaker() as session:
                await rebuild(session, redis, looking, chunk=50)
        done.set()

    await asyncio.gather(keep_reading(), keep_reading(), rebuild_twice())
    assert len(mid_rebuild) == 2 * 1500 // 300, "read at fixed points of each rebuild"
    assert all(each == live for each in mid_rebuild)
    assert len(seen) >= 2
    assert all(each == live for each in seen)
