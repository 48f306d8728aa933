"""The event store against the real PostgreSQL: append, concurrency, snapshots, time travel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import Database
from ensemble.kernel.db.raw import asyncpg_dsn
from ensemble.kernel.events import Envelope, EventPayload
from ensemble.kernel.events.models import OutboxEvent, Snapshot, StoredEvent
from ensemble.kernel.events.outbox import CHANNEL
from ensemble.kernel.events.store import (
    SNAPSHOT_EVERY,
    ConcurrencyConflict,
    NewEvent,
    append,
    last_sequence,
    load,
)
from ensemble.kernel.observability.context import RequestContext, bind_request_context

KIND = "CharacterOwnership"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Ownership:
    """A tiny aggregate: the characters a user owns, and how many were ever acquired.

    `applied` counts the events applied since it was built; it is not part of the state,
    so it tells how many events a load replayed.
    """

    def __init__(self) -> None:
        self.owned: set[str] = set()
        self.acquired = 0
        self.applied = 0

    def apply(self, event: Envelope) -> None:
        self.applied += 1
        character = str(event.payload["character"])
        if event.type == "character.acquired":
            self.owned.add(character)
            self.acquired += 1
        elif event.type == "character.lost":
            self.owned.discard(character)

    def snapshot(self) -> dict[str, Any]:
        return {"owned": sorted(self.owned), "acquired": self.acquired}

    def restore(self, state: dict[str, Any]) -> None:
        self.owned = set(state["owned"])
        self.acquired = int(state["acquired"])

    @property
    def state(self) -> dict[str, Any]:
        return self.snapshot()


class Acquired(EventPayload, type="character.acquired"):
    character: str


class Lost(EventPayload, type="character.lost", version=2):
    character: str


def acquired(n: int) -> Acquired:
    return Acquired(character=f"c{n}")


async def append_to(
    session: AsyncSession,
    expected_sequence: int,
    events: Sequence[NewEvent],
    *,
    user: str = "u1",
    aggregate: Ownership | None = None,
    publish: bool = False,
) -> int:
    """`append` to the stream of `user`'s ownership."""
    return await append(
        session,
        aggregate_type=KIND,
        aggregate_id=user,
        expected_sequence=expected_sequence,
        events=events,
        aggregate=aggregate,
        publish=publish,
    )


def at_minute(user: str, n: int, minute: int | None = None) -> Envelope:
    """Event number `n` of `user`: acquire c<n>, every third one loses c<n-1>."""
    type_ = "character.lost" if n % 3 == 0 else "character.acquired"
    character = f"c{n - 1}" if n % 3 == 0 else f"c{n}"
    return Envelope(
        aggregate_type=KIND,
        aggregate_id=user,
        type=type_,
        payload={"character": character},
        occurred_at=T0 + timedelta(minutes=n if minute is None else minute),
    )


def replayed(events: list[Envelope]) -> dict[str, Any]:
    """The state those events give, folded here without the store."""
    aggregate = Ownership()
    for event in events:
        aggregate.apply(event)
    return aggregate.state


async def fill(
    database: Database, user: str, count: int, batch: int = 37, start: int = 1
) -> list[Envelope]:
    """Append events `start … start + count - 1` in batches through a loaded aggregate."""
    events = [at_minute(user, n) for n in range(start, start + count)]
    for first in range(0, count, batch):
        async with database.unit_of_work() as session:
            aggregate, sequence = await load(session, Ownership, KIND, user)
            await append_to(
                session, sequence, events[first : first + batch], user=user, aggregate=aggregate
            )
    return events


async def sequences(database: Database, user: str) -> list[int]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(StoredEvent.sequence_number)
            .where(StoredEvent.aggregate_id == user)
            .order_by(StoredEvent.sequence_number)
        )
        return list(rows)


# Append and load


async def test_append_and_load_round_trip(database: Database) -> None:
    async with database.unit_of_work() as session:
        last = await append_to(session, 0, [acquired(1), acquired(2), Lost(character="c1")])
    assert last == 3
    async with database.sessionmaker() as session:
        aggregate, sequence = await load(session, Ownership, KIND, "u1")
        stored = (
            await session.scalars(select(StoredEvent).order_by(StoredEvent.sequence_number))
        ).all()
        assert await last_sequence(session, KIND, "u1") == 3
    assert sequence == 3
    assert aggregate.state == {"owned": ["c2"], "acquired": 2}
    assert [row.type for row in stored] == ["character.acquired"] * 2 + ["character.lost"]
    assert stored[2].version == 2
    assert stored[2].payload == {"character": "c1"}
    assert all(row.trace_id and row.recorded_at for row in stored)


async def test_an_unknown_aggregate_loads_fresh_at_sequence_zero(database: Database) -> None:
    async with database.sessionmaker() as session:
        aggregate, sequence = await load(session, Ownership, KIND, "nobody")
    assert (aggregate.state, sequence) == ({"owned": [], "acquired": 0}, 0)


async def test_an_envelope_of_another_aggregate_is_refused(database: Database) -> None:
    async with database.unit_of_work() as session:
        with pytest.raises(ValueError, match="is not"):
            await append_to(session, 0, [at_minute("u2", 1)])


async def test_an_event_appended_twice_is_refused(database: Database) -> None:
    """The same envelope again (even as the next number) breaks `event_id`'s uniqueness: a
    database error, after which the caller rolls back."""
    event = at_minute("u1", 1)
    async with database.unit_of_work() as session:
        await append_to(session, 0, [event])
    with pytest.raises(asyncpg.UniqueViolationError, match="event_id"):
        async with database.unit_of_work() as session:
            await append_to(session, 1, [event])
    assert await sequences(database, "u1") == [1]


async def test_stored_events_are_append_only(database: Database) -> None:
    await fill(database, "u1", 2)
    async with database.unit_of_work() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text("UPDATE events.stored_events SET payload = '{}'"))


async def test_an_append_is_part_of_the_callers_transaction(database: Database) -> None:
    """Also when it is the transaction's first statement: a rollback takes it back."""
    async with database.sessionmaker() as session:
        await append_to(session, 0, [acquired(1), acquired(2)], publish=True)
        assert await last_sequence(session, KIND, "u1") == 2
        await session.rollback()
    assert await sequences(database, "u1") == []
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


@asynccontextmanager
async def relay_wake_ups(database: Database) -> AsyncIterator[list[str]]:
    """The channels of the NOTIFYs on the outbox channel received while inside."""
    received: list[str] = []
    listener = await asyncpg.connect(asyncpg_dsn(database.url))
    await listener.add_listener(CHANNEL, lambda *notification: received.append(notification[2]))
    try:
        yield received
    finally:
        await listener.close()


async def settled(received: list[str]) -> list[str]:
    """`received` once a first notification came (or after 2 s) and a little longer, so a
    second one would have come too."""
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    return received


@pytest.mark.parametrize("count", [1, 3])
async def test_append_can_publish_to_the_outbox_in_the_same_transaction(
    database: Database, count: int
) -> None:
    """The outbox rows are the stored events, in their order, with the running request's
    trace and request ids; the relay is woken once, at commit, and not by a rollback."""
    context = RequestContext(request_id="req-7")
    bind_request_context(context)
    events = [acquired(n) for n in range(1, count + 1)]
    async with relay_wake_ups(database) as woken:
        async with database.sessionmaker() as session:
            await append_to(session, 0, events, user="u0", publish=True)
            await session.rollback()
        async with database.unit_of_work() as session:
            await append_to(session, 0, events, publish=True)
            await asyncio.sleep(0.1)
            assert woken == [], "nothing is sent before commit"
        assert await settled(woken) == [CHANNEL]
    async with database.sessionmaker() as session:
        stored = (
            await session.scalars(select(StoredEvent).order_by(StoredEvent.sequence_number))
        ).all()
        published = (
            await session.scalars(select(OutboxEvent).order_by(OutboxEvent.xid, OutboxEvent.seq))
        ).all()
    assert [row.event_id for row in published] == [row.event_id for row in stored]
    assert [row.payload for row in published] == [event.model_dump() for event in events]
    assert [row.occurred_at for row in published] == [row.occurred_at for row in stored]
    assert {(row.aggregate_type, row.aggregate_id) for row in published} == {(KIND, "u1")}
    assert {(row.trace_id, row.request_id) for row in published} == {(context.trace_id, "req-7")}


@pytest.mark.parametrize("count", [1, 3])
async def test_a_refused_publishing_append_publishes_nothing(
    database: Database, count: int
) -> None:
    await fill(database, "u1", 3)
    async with database.unit_of_work() as session:
        with pytest.raises(ConcurrencyConflict):
            await append_to(session, 2, [acquired(n) for n in range(10, 10 + count)], publish=True)
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    assert await sequences(database, "u1") == [1, 2, 3]


# Optimistic concurrency


@pytest.mark.parametrize("count", [1, 2])
async def test_of_two_appenders_that_saw_the_same_sequence_exactly_one_wins(
    database: Database, count: int
) -> None:
    await fill(database, "u1", 5)

    async def appender(n: int) -> int | ConcurrencyConflict:
        async with database.unit_of_work() as session:
            _, sequence = await load(session, Ownership, KIND, "u1")
            await asyncio.sleep(0.05)  # both have loaded before either appends
            try:
                return await append_to(
                    session, sequence, [acquired(100 * k + n) for k in range(1, count + 1)]
                )
            except ConcurrencyConflict as conflict:
                # Nothing was written and no error raised: the transaction is still usable.
                assert await last_sequence(session, KIND, "u1") >= 5
                return conflict

    results = await asyncio.gather(appender(1), appender(2))
    winners = [r for r in results if isinstance(r, int)]
    [loser] = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert winners == [5 + count]
    assert (loser.status_code, loser.code) == (409, "concurrent_modification")
    assert loser.details["expected_sequence"] == 5
    assert loser.details["current_sequence"] in (5, 5 + count)
    assert await sequences(database, "u1") == list(range(1, 6 + count))


async def test_concurrent_writers_retrying_on_conflict_leave_no_gap(database: Database) -> None:
    writers, appends = 8, 5
    conflicts = 0

    async def writer(w: int) -> None:
        nonlocal conflicts
        for i in range(appends):
            while True:
                try:
                    async with database.unit_of_work() as session:
                        _, sequence = await load(session, Ownership, KIND, "u1")
                        await append_to(session, sequence, [acquired(w * 100 + i)])
                    break
                except ConcurrencyConflict:
                    conflicts += 1

    await asyncio.gather(*(writer(w) for w in range(writers)))
    assert await sequences(database, "u1") == list(range(1, writers * appends + 1))
    async with database.sessionmaker() as session:
        aggregate, _ = await load(session, Ownership, KIND, "u1")
    assert aggregate.acquired == writers * appends


async def test_an_expected_sequence_beyond_the_end_is_a_conflict(database: Database) -> None:
    await fill(database, "u1", 3)
    async with database.unit_of_work() as session:
        with pytest.raises(ConcurrencyConflict) as raised:
            await append_to(session, 7, [acquired(8)])
    assert raised.value.details["current_sequence"] == 3
    assert await sequences(database, "u1") == [1, 2, 3]


async def test_a_refused_append_leaves_the_transaction_usable(database: Database) -> None:
    """A conflict writes nothing and raises no database error: the same transaction goes on."""
    await fill(database, "u1", 3)
    async with database.unit_of_work() as session:
        for stale in (7, 1):  # beyond the end (a gap), then behind it
            with pytest.raises(ConcurrencyConflict):
                await append_to(session, stale, [acquired(8), acquired(9)])
        last = await append_to(session, 3, [acquired(4)])
    assert last == 4
    assert await sequences(database, "u1") == [1, 2, 3, 4]


async def test_a_longer_batch_that_lost_the_race_writes_none_of_its_events(
    database: Database,
) -> None:
    """Its first number is taken, its later ones are free: still all or nothing."""
    await fill(database, "u1", 3)
    async with database.unit_of_work() as session:
        await append_to(session, 3, [acquired(n) for n in range(4, 6)])
    async with database.unit_of_work() as session:
        with pytest.raises(ConcurrencyConflict) as raised:
            await append_to(session, 3, [acquired(n) for n in range(100, 110)])
    assert raised.value.details["current_sequence"] == 5
    assert await sequences(database, "u1") == [1, 2, 3, 4, 5]


async def test_a_writer_waiting_on_one_that_rolls_back_then_appends(database: Database) -> None:
    await fill(database, "u1", 3)
    first_holds_four = asyncio.Event()

    async def rolled_back() -> None:
        async with database.sessionmaker() as session:
            await append_to(session, 3, [acquired(40)])
            first_holds_four.set()
            await asyncio.sleep(0.2)  # the second writer now waits on number 4
            await session.rollback()

    async def waiting() -> int:
        await first_holds_four.wait()
        async with database.unit_of_work() as session:
            return await append_to(session, 3, [acquired(4), acquired(5)])

    _, last = await asyncio.gather(rolled_back(), waiting())
    assert last == 5
    async with database.sessionmaker() as session:
        aggregate, sequence = await load(session, Ownership, KIND, "u1")
    assert (sequence, aggregate.owned) == (5, {"c1", "c4", "c5"})


# Snapshots


async def test_snapshots_are_taken_every_hundred_events_and_load_starts_from_the_newest(
    database: Database,
) -> None:
    assert SNAPSHOT_EVERY == 100
    events = await fill(database, "u1", 250)
    async with database.sessionmaker() as session:
        snapshots = (
            await session.execute(
                select(Snapshot.sequence_number, Snapshot.state).order_by(Snapshot.sequence_number)
            )
        ).all()
        aggregate, sequence = await load(session, Ownership, KIND, "u1")
        scratch, scratch_sequence = await load(session, Ownership, KIND, "u1", from_snapshot=False)
    assert [(n, state) for n, state in snapshots] == [
        (100, replayed(events[:100])),
        (200, replayed(events[:200])),
    ]
    assert (sequence, aggregate.applied) == (250, 50)  # snapshot 200 + 50 events
    assert (scratch_sequence, scratch.applied) == (250, 250)
    assert aggregate.state == scratch.state == replayed(events)


async def test_appending_without_the_aggregate_writes_no_snapshot(database: Database) -> None:
    async with database.unit_of_work() as session:
        await append_to(session, 0, [acquired(n) for n in range(150)])
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Snapshot)) == 0
        aggregate, sequence = await load(session, Ownership, KIND, "u1")
    assert (sequence, aggregate.applied, aggregate.acquired) == (150, 150, 150)


async def test_a_ten_thousand_event_aggregate_loads_from_its_snapshot(database: Database) -> None:
    """Only the correctness here; the timing is in bench/event_store.py."""
    events = await fill(database, "u1", 10_005, batch=1_000)
    async with database.sessionmaker() as session:
        aggregate, sequence = await load(session, Ownership, KIND, "u1")
    assert (sequence, aggregate.applied) == (10_005, 5)
    assert aggregate.state == replayed(events)


# Time travel


async def test_the_state_at_an_instant_between_two_appends_is_the_state_after_the_first(
    database: Database,
) -> None:
    first = await fill(database, "u1", 3)  # minutes 1..3
    second = await fill(database, "u1", 2, start=4)  # minutes 4..5
    between = T0 + timedelta(minutes=3, seconds=30)
    async with database.sessionmaker() as session:
        then, then_sequence = await load(session, Ownership, KIND, "u1", at=between)
        now, now_sequence = await load(session, Ownership, KIND, "u1")
        before, before_sequence = await load(session, Ownership, KIND, "u1", at=T0)
    assert (then.state, then_sequence) == (replayed(first), 3)
    assert (now.state, now_sequence) == (replayed(first + second), 5)
    assert (before.state, before_sequence) == (Ownership().state, 0)


@pytest.mark.parametrize(
    ("minute", "applied"),
    [
        (50, 50),  # before the first snapshot: replayed from scratch
        (100, 0),  # exactly at snapshot 100
        (150, 50),  # snapshot 100 + 50 events
        (250, 50),  # snapshot 200 + 50 events
        (10_000, 0),  # after the end: snapshot 300, nothing after it
    ],
)
async def test_time_travel_uses_the_newest_snapshot_taken_before_the_instant(
    database: Database, minute: int, applied: int
) -> None:
    events = await fill(database, "u1", 300)
    async with database.sessionmaker() as session:
        aggregate, sequence = await load(
            session, Ownership, KIND, "u1", at=T0 + timedelta(minutes=minute)
        )
    expected = min(minute, 300)
    assert (sequence, aggregate.applied) == (expected, applied)
    assert aggregate.state == replayed(events[:expected])
