"""The saga's consumers and projections against the real PostgreSQL and Redis, in this
process: a second delivery of any ECO² event changes nothing, the handlers guard
themselves by state, a poison event is dead-lettered without blocking its stream and
completes once re-driven after the fix, and an event of an older version is consumed."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco import events
from ensemble.apps.eco.characters import service as characters
from ensemble.apps.eco.consumers import CONSUMERS, character_rewards, my_stats
from ensemble.apps.eco.models import Role
from ensemble.apps.eco.read_models import PROJECTIONS
from ensemble.apps.eco.settings import EcoSettings
from ensemble.kernel.db import Database, new_id
from ensemble.kernel.events import Envelope
from ensemble.kernel.events.consumer import Consumer
from ensemble.kernel.events.envelope import as_text
from ensemble.kernel.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from ensemble.kernel.events.projection import apply_live, projection_consumer
from ensemble.kernel.events.runner import ConsumerRunner
from tests.apps.eco.conftest import (
    API,
    EcoUser,
    EcoWorld,
    InlineSaga,
    eco_rows,
    failing_scan,
    reset_read_models,
    saga_facts,
)

PROJECTED = {projection.consumer_name: projection for projection in PROJECTIONS}
STATE_GUARDED = {"eco.scan.images", "eco.character.rewards", "eco.scan.rewards"}
"""Consumers that do nothing for an event they already acted on even under a new event id
(an image kept, a scan decided, a reward settled). `eco.my.notifications` keys its rows by
the event id, so it guards against the same id only; `eco.my.stats` counts every event and
relies on `processed_events` alone."""

State = tuple[dict[str, list[str]], dict[bytes, Any]]


async def value(redis: Redis, key: bytes) -> Any:
    """A key's value, comparable whatever order Redis keeps it in."""
    kind = as_text(await redis.type(key))
    if kind == "zset":
        return await redis.zrange(key, 0, -1, withscores=True)
    read = {"hash": redis.hgetall, "set": redis.smembers, "string": redis.get}
    return await read[kind](key) if kind in read else await redis.lrange(key, 0, -1)


async def state(database: Database, redis: Redis) -> State:
    """Every row ECO² can write, and every read-model key with its value."""
    keys = [key async for key in redis.scan_iter(match="rm:eco.*", count=1000)]
    return await eco_rows(database), {key: await value(redis, key) for key in keys}


def every_consumer(redis: Redis) -> list[Consumer]:
    return [*CONSUMERS, *(projection_consumer(each, redis) for each in PROJECTIONS)]


def takes(each: Consumer, envelope: Envelope) -> bool:
    return envelope.aggregate_type in each.aggregate_types and each.handles(envelope)


@dataclass
class Saga(InlineSaga):
    """The inline saga through every consumer and projection (as the `consume` process runs
    them), but for those `without` (something else stands in for them). Each event may be
    `rewritten` first; with `twice`, every delivery is checked by `deliver_twice`."""

    without: frozenset[str] = frozenset()
    rewrite: Callable[[Envelope], Envelope] = lambda envelope: envelope
    twice: bool = False
    delivered: list[Envelope] = field(default_factory=list)
    covered: set[tuple[str, str]] = field(default_factory=set)

    async def deliver(self, envelope: Envelope) -> None:
        envelope = self.rewrite(envelope)
        self.delivered.append(envelope)
        for each in every_consumer(self.redis):
            if each.name not in self.without and takes(each, envelope):
                if self.twice:
                    await self.deliver_twice(each, envelope)
                else:
                    await ConsumerRunner(self.database, self.redis, each).attempt(envelope)

    async def deliver_twice(self, each: Consumer, envelope: Envelope) -> None:
        """Deliver, deliver again, and replay the handler behind `processed_events`' back:
        neither of the last two may change a row or a read model."""
        runner = ConsumerRunner(self.database, self.redis, each)
        assert await runner.attempt(envelope) == "ok"
        first = await state(self.database, self.redis)
        assert await runner.attempt(envelope) == "duplicate"
        assert await state(self.database, self.redis) == first, f"{each.name}: {envelope.type}"
        if await self.replay(each, envelope):
            assert await state(self.database, self.redis) == first, (
                f"{each.name} acted twice on {envelope.type}"
            )
        self.covered.add((each.name, envelope.type))

    async def replay(self, each: Consumer, envelope: Envelope) -> bool:
        """Run the handler again as if `processed_events` had lost the first delivery (under
        a new event id for the consumers guarded by state); False if it has no such guard."""
        if each.name in PROJECTED:
            assert not await apply_live(self.redis, PROJECTED[each.name], envelope)
            return True
        if each.name == my_stats.name:
            return False
        if each.name in STATE_GUARDED:
            envelope = envelope.model_copy(update={"event_id": new_id()})
        async with self.database.unit_of_work() as session:
            await each.handler(session, envelope)
        return True


@pytest.fixture
def max_characters(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """`ECO_MAX_CHARACTERS=1` for the consumers in this process."""
    monkeypatch.setenv("ECO_MAX_CHARACTERS", "1")
    yield 1
    monkeypatch.undo()


async def scan(world: EcoWorld, user: EcoUser, text: str) -> str:
    accepted = await world.classify(user, user_input=text)
    assert accepted.status_code == 202, accepted.text
    task_id: str = accepted.json()["task_id"]
    return task_id


async def reward(world: EcoWorld, user: EcoUser, task_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await world.task(user, task_id))["reward"]
    return found


async def outbox(database: Database, type_: str) -> list[Envelope]:
    """The events of `type_` written so far, oldest first."""
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == type_).order_by(OutboxEvent.seq)
        )
        return [
            Envelope.model_validate(
                {c.key: getattr(row, c.key) for c in OutboxEvent.__table__.columns}
            )
            for row in rows
        ]


# Duplicates


async def test_a_second_delivery_of_any_event_to_any_consumer_changes_nothing(
    eco: EcoWorld, redis: Redis, max_characters: int
) -> None:
    await reset_read_models(redis)  # compare this test's read models, not every test's
    user = await eco.user()
    saga = Saga(eco.settings, eco.database, redis, twice=True)
    registered = await eco.client.post(
        f"{API}/images/register",
        json={"cdn_url": "https://cdn.example.com/pet.jpg"},
        headers=user.headers,
    )
    assert registered.status_code == 201, registered.text
    tasks = []
    for text in ("페트병", "유리병", "음식물"):  # granted, over the limit, not eligible
        tasks.append(await scan(eco, user, text))
        await saga.settle()
    tasks.append(await failing_scan(eco, user))
    await saga.settle()

    rewards = [await reward(eco, user, task) for task in tasks]
    assert [r and (r["status"], r["reason"]) for r in rewards] == [
        ("granted", None),
        ("failed", "max_characters_reached"),
        ("not_eligible", None),
        None,
    ]
    (await saga_facts(eco.database, [user.user_id])).check(max_characters)
    every_pair = {(c.name, type_) for c in every_consumer(redis) for type_ in c.types or ()}
    assert saga.covered == every_pair, "every consumer saw every event type it takes"


# Poison events and the dead-letter queue


async def drain(runner: ConsumerRunner, saga: Saga) -> None:
    """Handle the runner's stream until nothing is left (no blocking read), with the apps'
    resources of the saga's process."""
    async with saga.resources():
        while await runner.run_once(block_ms=None):
            pass


async def test_a_poison_event_is_dead_lettered_without_blocking_and_completes_once_redriven(
    eco: EcoWorld, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, poisoned, next_in_line = await eco.user(Role.ADMIN), await eco.user(), await eco.user()
    # the rewards consumer on a stream of this test alone, the rest of the saga inline
    rewards = dataclasses.replace(
        character_rewards,
        name=f"test.rewards.{uuid.uuid4().hex[:8]}",
        aggregate_types=(f"test-scan-{uuid.uuid4().hex[:8]}",),
    )
    [stream] = rewards.streams
    runner = ConsumerRunner(eco.database, redis, rewards)
    await runner.ensure_groups()
    saga = Saga(eco.settings, eco.database, redis, without=frozenset({character_rewards.name}))
    tasks = [await scan(eco, user, "페트병") for user in (poisoned, next_in_line)]
    await saga.settle()
    poison, healthy = await outbox(eco.database, events.ScanCompleted.TYPE)
    assert poison.aggregate_id == tasks[0]

    reward_scan = characters.reward_scan

    async def buggy(session: AsyncSession, envelope: Envelope, max_characters: int) -> str:
        if envelope.aggregate_id == poison.aggregate_id:
            raise RuntimeError("bug: cannot reward this scan")
        return await reward_scan(session, envelope, max_characters)

    with monkeypatch.context() as patched:
        patched.setattr(characters, "reward_scan", buggy)
        for event in (poison, healthy):
            await redis.xadd(stream, event.to_stream_fields())  # type: ignore[arg-type]
        await drain(runner, saga)
    await saga.settle()

    async with eco.database.sessionmaker() as session:
        [letter] = await session.scalars(select(DeadLetter))
    assert (letter.consumer, letter.stream, letter.event_id) == (
        rewards.name,
        stream,
        poison.event_id,
    )
    assert letter.attempts == rewards.max_attempts == 3
    assert letter.error == "RuntimeError: bug: cannot reward this scan"
    assert letter.traceback is not None
    assert "cannot reward this scan" in letter.traceback
    assert letter.trace_id == poison.trace_id is not None
    assert (await redis.xpending(stream, rewards.name))["pending"] == 0
    assert await reward(eco, poisoned, tasks[0]) == {
        "status": "pending",
        "character": None,
        "reason": None,
    }
    assert (await reward(eco, next_in_line, tasks[1]) or {})["status"] == "granted", "not blocked"

    listed = await eco.client.get(
        f"{API}/admin/dlq", params={"queue": rewards.name}, headers=admin.headers
    )
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert (item["event_id"], item["trace_id"]) == (str(poison.event_id), poison.trace_id)
    redriven = await eco.client.post(
        f"{API}/admin/dlq/reprocess",
        json={"queue": rewards.name, "count": 10},
        headers=admin.headers,
    )
    assert redriven.status_code == 200, redriven.text
    assert redriven.json()["reprocessed"] == 1
    await drain(runner, saga)
    await saga.settle()

    assert (await reward(eco, poisoned, tasks[0]) or {})["status"] == "granted"
    facts = await saga_facts(eco.database, [poisoned.user_id, next_in_line.user_id])
    facts.check(EcoSettings().max_characters)
    assert facts.outcomes() == {"granted": 2}
    left = await eco.client.get(f"{API}/admin/dlq", headers=admin.headers)
    assert left.json()["items"] == []


# Versions


def as_version_1(envelope: Envelope) -> Envelope:
    """A `ScanCompleted` as a version-1 producer wrote it (before `confidence`)."""
    if envelope.type != events.ScanCompleted.TYPE:
        return envelope
    payload = {k: v for k, v in envelope.payload.items() if k != "confidence"}
    return envelope.model_copy(update={"version": 1, "payload": payload})


async def test_a_scan_completed_of_version_1_is_consumed_and_rewarded(
    eco: EcoWorld, redis: Redis
) -> None:
    assert events.ScanCompleted.VERSION == 2
    user = await eco.user()
    saga = Saga(eco.settings, eco.database, redis, rewrite=as_version_1)
    task = await saga.scan(eco, user, user_input="페트병")

    [completed] = [e for e in saga.delivered if e.type == events.ScanCompleted.TYPE]
    assert completed.version == 1
    assert "confidence" not in completed.payload
    assert task["reward"]["status"] == "granted"
    assert task["reward"]["character"]["code"] == "petty"
    async with eco.database.sessionmaker() as session:
        results = await session.scalars(
            select(ProcessedEvent.result).where(ProcessedEvent.consumer == character_rewards.name)
        )
        assert list(results) == ["acquired"]
    facts = await saga_facts(eco.database, [user.user_id])
    facts.check(EcoSettings().max_characters)
    assert facts.profile_totals() == {str(user.user_id): (1, 1)}
