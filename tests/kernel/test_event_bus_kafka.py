"""The Kafka transport of the event bus, on FastStream's in-memory test broker (no Kafka
server can run here) with the real PostgreSQL and Redis: the relay's topics, keys and
order, a consumer group's idempotency, retries, dead letters and offset commits, and
re-driving; and `EVENT_BUS_URL` choosing the transport.

The test broker hands each published record to the subscribers of its topic (one per
group) at once, inside `publish`, and an offset commit goes to its stand-in consumer,
which these tests watch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.message import FakeConsumer
from prometheus_client import REGISTRY
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import func, select

from ensemble.kernel.db import Database
from ensemble.kernel.errors import Conflict
from ensemble.kernel.events import Envelope, publish
from ensemble.kernel.events.bus import (
    KafkaBus,
    Received,
    RedisStreamsBus,
    event_bus,
    kafka_servers,
    topic_name,
)
from ensemble.kernel.events.dlq import reprocess
from ensemble.kernel.events.models import DeadLetter, ProcessedEvent
from ensemble.kernel.events.relay import relay_once
from ensemble.kernel.events.runner import run_consumers, subscribe
from ensemble.kernel.observability.context import RequestContext, bind_request_context
from ensemble.settings import Settings
from tests.kernel.test_event_consumers import FAST, Recorder
from tests.polling import eventually

KAFKA_URL = "kafka://kafka-1:9092,kafka-2:9092"


@pytest.fixture
def bus() -> KafkaBus:
    return KafkaBus.from_url(KAFKA_URL)


@dataclass(frozen=True)
class Commit:
    """An offset commit, with what the database held when it came."""

    processed: int
    dead_letters: int


@pytest.fixture
def commits(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[Commit]:
    """Every offset commit of the test broker's consumers."""
    seen: list[Commit] = []

    async def commit(_: FakeConsumer) -> None:
        seen.append(
            Commit(await _count(database, ProcessedEvent), await _count(database, DeadLetter))
        )

    monkeypatch.setattr(FakeConsumer, "commit", commit)
    return seen


def _event(kind: str, aggregate_id: str, n: int) -> Envelope:
    return Envelope(aggregate_type=kind, aggregate_id=aggregate_id, type="noted", payload={"n": n})


async def _emit(database: Database, bus: KafkaBus, kind: str, *ns: int) -> list[Envelope]:
    """One event per `n` (one aggregate), written to the outbox and relayed to Kafka."""
    async with database.unit_of_work() as session:
        written = [await publish(session, _event(kind, "a1", n)) for n in ns]
    assert await relay_once(database, bus) == len(ns)
    return written


async def _count(database: Database, model: type[ProcessedEvent] | type[DeadLetter]) -> int:
    async with database.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def _effects(database: Database, kind: str) -> list[int]:
    async with database.sessionmaker() as session:
        stmt = select(ProcessedEvent.result).where(ProcessedEvent.consumer == f"c-{kind}")
        return sorted(result["n"] for result in (await session.execute(stmt)).scalars())


async def _dead_letters(database: Database) -> list[DeadLetter]:
    async with database.sessionmaker() as session:
        return list((await session.execute(select(DeadLetter).order_by(DeadLetter.id))).scalars())


async def _subscribed(bus: KafkaBus) -> bool:
    return any(subscriber.running for subscriber in bus.broker.subscribers)


def _duplicates(kind: str) -> float | None:
    labels = {"consumer": f"c-{kind}", "outcome": "duplicate"}
    return REGISTRY.get_sample_value("events_consumed_total", labels)


@dataclass(frozen=True)
class Published:
    topic: str
    key: bytes | None
    traceparent: str | None
    envelope: Envelope


async def test_the_relay_publishes_to_the_topic_keyed_by_aggregate_in_order(
    database: Database, bus: KafkaBus, kind: str
) -> None:
    published: list[Published] = []

    @bus.broker.subscriber(topic_name(kind), group_id="spy")
    async def spy(message: KafkaMessage) -> None:
        record = cast(Received, message.raw_message)
        envelope = Envelope.model_validate_json(record.value or b"")
        published.append(
            Published(record.topic, record.key, message.headers.get("traceparent"), envelope)
        )

    bind_request_context(context := RequestContext())
    async with database.sessionmaker() as session:
        await publish(session, _event(kind, "agg-0", -1))
        await session.rollback()
    async with database.unit_of_work() as session:
        written = [await publish(session, _event(kind, f"agg-{n % 2}", n)) for n in range(6)]

    async with TestKafkaBroker(bus.broker):
        assert await relay_once(database, bus) == 6
        assert await relay_once(database, bus) == 0, "published rows are not sent again"

    assert [each.envelope for each in published] == written, "every field, in position order"
    assert {each.topic for each in published} == {topic_name(kind)}
    assert [each.key for each in published] == [e.aggregate_id.encode() for e in written]
    assert {(each.traceparent or "").split("-")[1] for each in published} == {context.trace_id}


async def test_a_consumer_group_handles_an_event_once_and_commits_after(
    database: Database, redis: Redis, bus: KafkaBus, kind: str, commits: list[Commit]
) -> None:
    recorder = Recorder(kind)
    bind_request_context(RequestContext(request_id="req-kafka"))
    stop = asyncio.Event()
    async with TestKafkaBroker(bus.broker):
        running = asyncio.create_task(
            run_consumers(database, redis, [recorder.consumer()], stop, bus=bus)
        )
        await eventually(lambda: _subscribed(bus), bool)
        [event] = await _emit(database, bus, kind, 0)
        await bus.append([event])  # the same event delivered again
        stop.set()
        await running

    assert recorder.calls == {0: 1}
    assert recorder.trace_ids == [event.trace_id]
    assert await _effects(database, kind) == [0]
    assert _duplicates(kind) == 1
    assert commits == [Commit(processed=1, dead_letters=0)] * 2, "each after its handling"
    assert not await redis.exists(f"events:attempts:c-{kind}:{event.event_id}")


async def test_a_failing_handler_retries_then_dead_letters_and_commits(
    database: Database, redis: Redis, bus: KafkaBus, kind: str, commits: list[Commit]
) -> None:
    def poison(_: Envelope, __: int) -> None:
        raise RuntimeError("poison pill")

    recorder = Recorder(kind, poison)
    subscribe(bus, database, redis, [recorder.consumer()])
    async with TestKafkaBroker(bus.broker):
        [event] = await _emit(database, bus, kind, 0)

    assert recorder.calls == {0: FAST.max_retries + 1}
    [letter] = await _dead_letters(database)
    assert (letter.consumer, letter.stream, letter.event_id) == (
        f"c-{kind}",
        topic_name(kind),
        event.event_id,
    )
    assert (letter.attempts, letter.error) == (3, "RuntimeError: poison pill")
    assert Envelope.model_validate(letter.envelope) == event
    assert commits == [Commit(processed=0, dead_letters=1)], "committed once dead-lettered"


class Died(BaseException):
    """The handler's process dying: nothing after it runs (no commit)."""


async def test_a_message_that_kills_its_process_is_dead_lettered_after_its_deliveries(
    database: Database, redis: Redis, bus: KafkaBus, kind: str, commits: list[Commit]
) -> None:
    """Kafka cannot tell a redelivery, so every delivery is counted before its attempt."""

    def die(_: Envelope, __: int) -> None:
        raise Died()

    recorder = Recorder(kind, die)
    subscribe(bus, database, redis, [recorder.consumer()])
    event = _event(kind, "a1", 0)
    async with TestKafkaBroker(bus.broker):
        for _ in range(3):
            with pytest.raises(Died):
                await bus.append([event])
        assert commits == []
        await bus.append([event])  # delivered after three deaths: given up without running

    assert recorder.calls == {0: 3}
    [letter] = await _dead_letters(database)
    assert (letter.attempts, letter.error) == (3, "RuntimeError: abandoned after 3 deliveries")
    assert commits == [Commit(processed=0, dead_letters=1)]
    assert not await redis.exists(f"events:attempts:c-{kind}:{event.event_id}")


async def test_a_dead_letter_redriven_goes_back_to_its_topic_and_completes(
    database: Database, redis: Redis, bus: KafkaBus, kind: str
) -> None:
    broken = True

    def until_fixed(_: Envelope, __: int) -> None:
        if broken:
            raise Conflict("not yet")

    recorder = Recorder(kind, until_fixed)
    subscribe(bus, database, redis, [recorder.consumer()])
    async with TestKafkaBroker(bus.broker):
        await _emit(database, bus, kind, 0)
        [letter] = await _dead_letters(database)
        broken = False
        async with database.unit_of_work() as session:
            redriven = await reprocess(session, bus, consumer=f"c-{kind}", count=10)

    assert [each.id for each in redriven] == [letter.id]
    assert recorder.calls == {0: 2}
    assert await _effects(database, kind) == [0]
    [done] = await _dead_letters(database)
    assert done.reprocessed_at is not None


def test_event_bus_url_selects_kafka_and_unset_selects_redis_streams(
    monkeypatch: pytest.MonkeyPatch, redis: Redis
) -> None:
    monkeypatch.setenv("EVENT_BUS_URL", KAFKA_URL)
    kafka = event_bus(Settings(), redis)
    assert isinstance(kafka, KafkaBus)
    assert kafka_servers(KAFKA_URL) == ["kafka-1:9092", "kafka-2:9092"]

    monkeypatch.delenv("EVENT_BUS_URL")
    streams = event_bus(Settings(), redis)
    assert isinstance(streams, RedisStreamsBus)
    assert streams.redis is redis

    with pytest.raises(ValidationError, match="event_bus_url"):
        Settings(event_bus_url="redis://localhost:6379")
