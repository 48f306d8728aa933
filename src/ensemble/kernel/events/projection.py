"""Read models: events projected into Redis, live and rebuildable from the event store.

A `Projection` owns the Redis keys under `rm:<name>:<version>:`. Its data lives in a
*generation* `rm:<name>:<version>:g<n>:…`; the hash `rm:<name>:<version>:meta` says which
generation is `current` (what readers see) and which, if any, is `building`.

- **Live**: `projection_consumer` is a kernel `Consumer` whose handler calls `apply_live`.
  That applies the event to the current generation in one MULTI/EXEC together with adding
  its id to the generation's set of applied events, and skips an event already in the set:
  a redelivery (for example after the handler's transaction failed to commit, since the
  Redis write happens before the commit of the `processed_events` row) changes nothing.
- **Rebuild**: `rebuild` marks a new generation `building`, replays the store's events into
  it, then switches `current` to it and deletes the old generation. While it runs, live
  deliveries also queue their envelopes on the building generation's pending list (in the
  same MULTI), and the rebuild applies that list after the store (skipping events the
  store pass already applied), so nothing consumed during the rebuild is lost and events
  of one aggregate keep their order. The switch happens only when the pending list is
  empty, under WATCH.
- **Reading**: `read` resolves the current generation, runs the reader, and retries if the
  pointer moved meanwhile, so a reader never sees a half-built or deleted generation.

Only events of the event store (`store.append(..., publish=True)`) should feed a
projection: a rebuild sees nothing else. One rebuild of a projection at a time.
See docs/decisions/0012-read-models.md.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.events.consumer import DEFAULT_RETRY, Consumer
from ensemble.kernel.events.envelope import Envelope, EventPayload, as_text, type_names
from ensemble.kernel.events.models import StoredEvent
from ensemble.kernel.events.store import ENVELOPE_COLUMNS, stored_envelope
from ensemble.kernel.jobs.definition import RetryPolicy

T = TypeVar("T")

ApplyFn = Callable[[Pipeline, "Namespace", Envelope], Awaitable[None]]
"""`apply(pipe, ns, envelope)`: queue the event's writes on `pipe` (inside MULTI), under
`ns.key(...)` only. It must not read: the pipeline only queues commands."""

CHUNK = 2_000
DROP_BATCH = 1_000
READ_ATTEMPTS = 20


@dataclass(frozen=True)
class Namespace:
    """The keys of one generation of a projection."""

    prefix: str
    generation: int

    def key(self, *parts: str | int) -> str:
        return ":".join((self.prefix, *(str(part) for part in parts)))

    @property
    def applied(self) -> str:
        """The set of the ids (hex) of the events applied to this generation."""
        return f"{self.prefix}:~applied"

    @property
    def pending(self) -> str:
        """Envelopes (JSON) consumed live while this generation was being built."""
        return f"{self.prefix}:~pending"


@dataclass(frozen=True)
class Projection:
    """A read model fed by the events of `types` on the streams of `aggregate_types`.

    Bump `version` when `apply` changes meaning: the new version has its own keys, built by
    `rebuild`, while the old one keeps serving until the code switches.
    """

    name: str
    aggregate_types: tuple[str, ...]
    types: frozenset[str]
    apply: ApplyFn
    version: int = 1

    @property
    def root(self) -> str:
        return f"rm:{self.name}:{self.version}"

    @property
    def meta(self) -> str:
        return f"{self.root}:meta"

    @property
    def counter(self) -> str:
        return f"{self.root}:generations"

    @property
    def consumer_name(self) -> str:
        return f"projection.{self.name}.v{self.version}"

    def namespace(self, generation: int) -> Namespace:
        return Namespace(f"{self.root}:g{generation}", generation)

    def handles(self, envelope: Envelope) -> bool:
        return envelope.aggregate_type in self.aggregate_types and envelope.type in self.types


def projection(
    name: str,
    *,
    aggregate_types: Iterable[str],
    types: Iterable[type[EventPayload]],
    version: int = 1,
) -> Callable[[ApplyFn], Projection]:
    """Declare a projection: `@projection("owned", aggregate_types=["user"], types=[...])`
    (`types`: payload classes)."""

    def declare(apply: ApplyFn) -> Projection:
        return Projection(name, tuple(aggregate_types), type_names(types), apply, version)

    return declare


# Generations


async def generations(redis: Redis | Pipeline, projection: Projection) -> tuple[int | None, ...]:
    """The current and building generations (None when there is none)."""
    current, building = await redis.hmget(projection.meta, ["current", "building"])
    return tuple(None if value is None else int(as_text(value)) for value in (current, building))


async def ensure_current(redis: Redis, projection: Projection) -> int:
    """The current generation, created (empty) if the projection has none yet."""
    current, _ = await generations(redis, projection)
    if current is not None:
        return current
    fresh = int(await redis.incr(projection.counter))
    await redis.hsetnx(projection.meta, "current", fresh)  # a concurrent creator may win
    current, _ = await generations(redis, projection)
    assert current is not None
    return current


async def drop(redis: Redis, namespace: Namespace) -> int:
    """Delete every key of a generation; returns how many."""
    deleted = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=f"{namespace.prefix}:*", count=DROP_BATCH):
        batch.append(key)
        if len(batch) >= DROP_BATCH:
            deleted += int(await redis.unlink(*batch))
            batch.clear()
    if batch:
        deleted += int(await redis.unlink(*batch))
    return deleted


# Live


async def apply_live(redis: Redis, projection: Projection, envelope: Envelope) -> bool:
    """Apply one event to the current generation unless it already was; False if skipped.

    During a rebuild the envelope is also queued for the building generation. Retries when
    the generations change under it (WATCH on the meta hash).
    """
    if not projection.handles(envelope):
        return False
    await ensure_current(redis, projection)
    event_id = envelope.event_id.hex
    while True:
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(projection.meta)
                current, building = await generations(pipe, projection)
                if current is None:  # dropped meanwhile: create again (leaving UNWATCHes)
                    await ensure_current(redis, projection)
                    continue
                live = projection.namespace(current)
                if await pipe.sismember(live.applied, event_id):
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]
                await projection.apply(pipe, live, envelope)
                pipe.sadd(live.applied, event_id)
                if building is not None:
                    pipe.rpush(projection.namespace(building).pending, envelope.model_dump_json())
                await pipe.execute()
                return True
            except WatchError:
                continue


def projection_consumer(
    projection: Projection, redis: Redis, *, retry: RetryPolicy = DEFAULT_RETRY
) -> Consumer:
    """The projection as a kernel event consumer (group `projection.<name>.v<version>`)."""

    async def handler(_: AsyncSession, envelope: Envelope) -> None:
        await apply_live(redis, projection, envelope)

    return Consumer(
        name=projection.consumer_name,
        aggregate_types=projection.aggregate_types,
        handler=handler,
        types=projection.types,
        retry=retry,
    )


# Reading


async def read(
    redis: Redis, projection: Projection, reader: Callable[[Namespace], Awaitable[T]]
) -> T:
    """`reader(ns)` over the current generation, repeated if a rebuild switched it meanwhile
    (the old generation may then already be deleted). No current generation reads as empty."""
    for _ in range(READ_ATTEMPTS):
        before, _building = await generations(redis, projection)
        result = await reader(projection.namespace(before or 0))
        after, _building = await generations(redis, projection)
        if after == before:
            return result
    raise RuntimeError(f"read model {projection.root} kept switching generations")


# Rebuild


@dataclass(frozen=True)
class RebuildResult:
    generation: int
    events: int  # read from the store
    applied: int  # from the store, plus live deliveries queued during the rebuild
    caught_up: int  # of `applied`, the queued live deliveries
    dropped_keys: int  # of the previous generation
    seconds: float


async def rebuild(
    session: AsyncSession,
    redis: Redis,
    projection: Projection,
    *,
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> RebuildResult:
    """Rebuild the projection from the event store into a new generation, switch readers to
    it and delete the previous one. `progress(events_so_far)` is called after each chunk.

    `session` must not hold a snapshot older than this call (a plain session does not): the
    store is read after the new generation is marked building.
    """
    started = time.perf_counter()
    target = await _start_building(redis, projection)
    events = 0
    async for batch in stored_events(session, projection, chunk):
        await _apply_batch(redis, projection, target, batch)
        events += len(batch)
        if progress is not None:
            progress(events)
    caught_up, previous = await _catch_up_and_switch(redis, projection, target)
    dropped = await drop(redis, projection.namespace(previous)) if previous is not None else 0
    return RebuildResult(
        generation=target.generation,
        events=events,
        applied=events + caught_up,
        caught_up=caught_up,
        dropped_keys=dropped,
        seconds=time.perf_counter() - started,
    )


async def _start_building(redis: Redis, projection: Projection) -> Namespace:
    """A fresh generation marked building (one left by a failed rebuild is deleted)."""
    await ensure_current(redis, projection)
    target = projection.namespace(int(await redis.incr(projection.counter)))
    _, stale = await generations(redis, projection)
    await redis.hset(projection.meta, "building", target.generation)
    if stale is not None:
        await drop(redis, projection.namespace(stale))
    return target


async def count_stored(session: AsyncSession, projection: Projection) -> int:
    """How many stored events a rebuild of `projection` will read (for progress bars)."""
    query = select(func.count()).where(
        StoredEvent.aggregate_type.in_(projection.aggregate_types),
        StoredEvent.type.in_(projection.types),
    )
    return int((await session.execute(query)).scalar_one())


async def stored_events(
    session: AsyncSession, projection: Projection, chunk: int = CHUNK
) -> AsyncIterator[list[Envelope]]:
    """The projection's events from the store in recorded order (then stream order),
    `chunk` at a time, read through a server-side cursor."""
    query = (
        select(StoredEvent.aggregate_type, StoredEvent.aggregate_id, *ENVELOPE_COLUMNS)
        .where(
            StoredEvent.aggregate_type.in_(projection.aggregate_types),
            StoredEvent.type.in_(projection.types),
        )
        .order_by(
            StoredEvent.recorded_at,
            StoredEvent.aggregate_type,
            StoredEvent.aggregate_id,
            StoredEvent.sequence_number,
        )
        .execution_options(yield_per=chunk)
    )
    result = await session.stream(query)
    async for rows in result.partitions():
        yield [stored_envelope(row.aggregate_type, row.aggregate_id, row._mapping) for row in rows]


async def _apply_batch(
    redis: Redis, projection: Projection, target: Namespace, batch: Sequence[Envelope]
) -> int:
    """Apply the events not yet applied to `target` (only the rebuild writes to it)."""
    if not batch:
        return 0
    seen = await redis.smismember(target.applied, [each.event_id.hex for each in batch])
    fresh = [each for each, known in zip(batch, seen, strict=True) if not known]
    if fresh:
        async with redis.pipeline(transaction=True) as pipe:
            for envelope in fresh:
                await projection.apply(pipe, target, envelope)
            pipe.sadd(target.applied, *(each.event_id.hex for each in fresh))
            await pipe.execute()
    return len(fresh)


async def _catch_up_and_switch(
    redis: Redis, projection: Projection, target: Namespace
) -> tuple[int, int | None]:
    """Apply the live deliveries queued during the rebuild, then make `target` current once
    none is left; returns how many were applied, and the previous generation."""
    caught_up = 0
    while True:
        caught_up += await _drain_pending(redis, projection, target)
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(projection.meta, target.pending)
                if await pipe.llen(target.pending):
                    continue
                current, building = await generations(pipe, projection)
                if building != target.generation:
                    raise RuntimeError(f"another rebuild of {projection.root} took over")
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(projection.meta, "current", target.generation)
                pipe.hdel(projection.meta, "building")
                await pipe.execute()
                return caught_up, current
            except WatchError:
                continue


async def _drain_pending(redis: Redis, projection: Projection, target: Namespace) -> int:
    """Apply the queued envelopes in order (a batch at a time), then trim them off."""
    applied = 0
    while True:
        raw = await redis.lrange(target.pending, 0, CHUNK - 1)
        if not raw:
            return applied
        batch = [Envelope.model_validate_json(item) for item in raw]
        applied += await _apply_batch(redis, projection, target, batch)
        await redis.ltrim(target.pending, len(raw), -1)
