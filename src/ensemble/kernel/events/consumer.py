"""Consuming events: Redis Streams consumer groups, idempotent handlers, retries and a DLQ.

A `Consumer` is a named handler of some aggregate types' streams; its name is its consumer
group, so every consumer sees every event of its streams. A `ConsumerRunner` reads the
group's new messages (XREADGROUP) and reclaims those left pending too long by a dead
process (XAUTOCLAIM), and handles each message on its own:

- in one database transaction, it first inserts `(consumer, event_id)` into
  `events.processed_events` (a redelivery finds the row, or waits on it, and is skipped as
  a duplicate), then runs `handler(session, envelope)`; both commit together;
- a transient error retries after an exponential backoff with jitter, up to the policy's
  attempts; the attempt count lives in Redis per (consumer, event), so a message that kills
  its process keeps counting in the process that reclaims it;
- an `AppError`, or the last failed attempt, writes the message to `events.dead_letters`;
- then the message is ACKed, so a poison message never holds back the ones behind it.

Handling runs under the envelope's trace and request ids, so every log line carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from fastapi.encoders import jsonable_encoder
from opentelemetry.trace import SpanKind
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import Database, utcnow
from ensemble.kernel.events.envelope import Envelope, as_text, decode_fields
from ensemble.kernel.events.models import DeadLetter, ProcessedEvent
from ensemble.kernel.events.relay import stream_name
from ensemble.kernel.jobs.definition import RetryPolicy
from ensemble.kernel.observability.context import (
    RequestContext,
    bind_request_context,
    current_request_context,
)
from ensemble.kernel.observability.tracing import span

logger = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Envelope], Awaitable[Any]]
Outcome = Literal["ok", "duplicate", "retry", "dead_lettered", "ignored"]
StreamFields = Mapping[Any, bytes | str]
Message = tuple[bytes, StreamFields]

EVENTS_CONSUMED = Counter(
    "events_consumed_total",
    "Event deliveries by consumer and outcome (a duplicate is a redelivery that was skipped)",
    ["consumer", "outcome"],
)

DEFAULT_RETRY = RetryPolicy(max_retries=2, min_backoff_ms=200, max_backoff_ms=5_000)
ATTEMPTS_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Consumer:
    """`handler(session, envelope)` for the events of `aggregate_types` (only of `types`,
    when given; others are acknowledged and ignored). Its return value, if any, is stored
    as the processed event's `result` (JSON)."""

    name: str
    aggregate_types: tuple[str, ...]
    handler: Handler
    types: frozenset[str] | None = None
    retry: RetryPolicy = DEFAULT_RETRY

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(stream_name(kind) for kind in self.aggregate_types)

    @property
    def max_attempts(self) -> int:
        return self.retry.max_retries + 1

    def handles(self, envelope: Envelope) -> bool:
        return self.types is None or envelope.type in self.types


def consumer(
    name: str,
    *,
    aggregate_types: Iterable[str],
    types: Iterable[str] | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> Callable[[Handler], Consumer]:
    """Declare a consumer: `@consumer("eco.ranking", aggregate_types=["scan"])`."""

    def declare(handler: Handler) -> Consumer:
        return Consumer(
            name=name,
            aggregate_types=tuple(aggregate_types),
            handler=handler,
            types=frozenset(types) if types is not None else None,
            retry=retry,
        )

    return declare


def backoff_seconds(policy: RetryPolicy, attempt: int) -> float:
    """The pause after failed `attempt` (1-based): doubling from the minimum, capped,
    with the upper half jittered so that retries of many messages spread out."""
    ceiling = min(policy.max_backoff_ms, policy.min_backoff_ms * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling) / 1000


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:4000]


@contextlib.contextmanager
def event_context(envelope: Envelope, consumer_name: str = "") -> Iterator[RequestContext]:
    """Log (and with tracing on, trace in a span) under the envelope's trace and request ids
    while `consumer_name` handles it."""
    previous = current_request_context()
    context = RequestContext(request_id=envelope.request_id, app="events")
    context.trace_id = envelope.trace_id or context.trace_id
    bind_request_context(context)
    try:
        with span(
            f"consume {envelope.type} by {consumer_name}",
            kind=SpanKind.CONSUMER,
            consumer=consumer_name,
            event_id=str(envelope.event_id),
        ):
            yield context
    finally:
        bind_request_context(previous)


async def claim_event(session: AsyncSession, consumer_name: str, event_id: uuid.UUID) -> bool:
    """Mark the event processed by `consumer_name` in this transaction; False if it already
    was. A concurrent delivery of the same event waits here until the first one ends."""
    stmt = (
        insert(ProcessedEvent)
        .values(consumer=consumer_name, event_id=event_id, processed_at=utcnow())
        .on_conflict_do_nothing()
        .returning(ProcessedEvent.event_id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def record_result(
    session: AsyncSession, consumer_name: str, event_id: uuid.UUID, result: Any
) -> None:
    stmt = (
        update(ProcessedEvent)
        .where(ProcessedEvent.consumer == consumer_name, ProcessedEvent.event_id == event_id)
        .values(result=jsonable_encoder(result))
    )
    await session.execute(stmt)


def default_member_name() -> str:
    """This process's name inside consumer groups."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class ConsumerRunner:
    """Runs one consumer in this process under the group member name `member`.

    Messages of a stream are handled one at a time in stream order; with one member per
    group, the order per aggregate holds (a dead-lettered message is skipped, not waited
    for). `claim_idle_ms` is how long a message may stay unacknowledged before another
    member takes it over: keep it well above the handler's time plus its backoffs.
    """

    database: Database
    redis: Redis
    consumer: Consumer
    member: str = field(default_factory=default_member_name)
    claim_idle_ms: int = 60_000
    batch: int = 50

    async def ensure_groups(self) -> None:
        """Create the consumer group on each stream (and the stream), reading from the start."""
        for stream in self.consumer.streams:
            try:
                await self.redis.xgroup_create(stream, self.consumer.name, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run_once(self, block_ms: int | None = 1000) -> int:
        """Reclaim abandoned messages, then read new ones (waiting up to `block_ms`);
        returns how many messages were handled."""
        return await self.reclaim() + await self.read(block_ms)

    async def read(self, block_ms: int | None) -> int:
        response = await self.redis.xreadgroup(
            self.consumer.name,
            self.member,
            dict.fromkeys(self.consumer.streams, ">"),
            count=self.batch,
            block=block_ms,
        )
        handled = 0
        for stream, messages in cast(list[tuple[bytes, list[Message]]], response or []):
            for message_id, fields in messages:
                await self.handle(as_text(stream), message_id, fields)
                handled += 1
        return handled

    async def reclaim(self) -> int:
        """Take over messages another member left unacknowledged for `claim_idle_ms`."""
        handled = 0
        for stream in self.consumer.streams:
            start: bytes | str = "0-0"
            while True:
                reply = await self.redis.xautoclaim(
                    stream,
                    self.consumer.name,
                    self.member,
                    self.claim_idle_ms,
                    start_id=start,
                    count=self.batch,
                )
                start, messages = reply[0], reply[1]
                for message_id, fields in messages:
                    if message_id is not None:  # None: an entry deleted while pending
                        await self.handle(stream, message_id, fields)
                        handled += 1
                if as_text(start) == "0-0":
                    break
        return handled

    async def handle(self, stream: str, message_id: bytes | str, fields: StreamFields) -> Outcome:
        """Handle one message to its end (done, skipped or dead-lettered), then ACK it."""
        try:
            envelope = Envelope.from_stream_fields(fields)
        except (ValueError, KeyError) as exc:
            await self._dead_letter(stream, decode_fields(fields), None, None, 1, exc)
            outcome: Outcome = "dead_lettered"
        else:
            if self.consumer.handles(envelope):
                with event_context(envelope, self.consumer.name):
                    outcome = await self._deliver(stream, envelope)
            else:
                outcome = "ignored"
        await self.redis.xack(stream, self.consumer.name, message_id)
        EVENTS_CONSUMED.labels(self.consumer.name, outcome).inc()
        return outcome

    async def _deliver(self, stream: str, envelope: Envelope) -> Outcome:
        """Attempts until one succeeds or the policy gives up (then a dead letter)."""
        attempts_key = f"events:attempts:{self.consumer.name}:{envelope.event_id}"
        outcome = await self._attempts(stream, envelope, attempts_key)
        await self.redis.delete(attempts_key)  # kept if this process dies before here
        return outcome

    async def _attempts(self, stream: str, envelope: Envelope, attempts_key: str) -> Outcome:
        while True:
            attempt = await self._next_attempt(attempts_key)
            if attempt > self.consumer.max_attempts:  # earlier deliveries died mid-way
                error = RuntimeError(f"abandoned after {attempt - 1} deliveries")
                await self._dead_letter_envelope(stream, envelope, attempt - 1, error)
                return "dead_lettered"
            try:
                return await self.attempt(envelope)
            except Exception as exc:
                if not self.consumer.retry.should_retry(attempt - 1, exc):
                    await self._dead_letter_envelope(stream, envelope, attempt, exc)
                    return "dead_lettered"
                EVENTS_CONSUMED.labels(self.consumer.name, "retry").inc()
                logger.warning(
                    "consumer %s: attempt %s at event %s failed (%s); retrying",
                    self.consumer.name,
                    attempt,
                    envelope.event_id,
                    describe(exc),
                )
                await asyncio.sleep(backoff_seconds(self.consumer.retry, attempt))

    async def attempt(self, envelope: Envelope) -> Outcome:
        """One transaction: claim the event for this consumer, then run the handler."""
        async with self.database.unit_of_work() as session:
            if not await claim_event(session, self.consumer.name, envelope.event_id):
                return "duplicate"
            result = await self.consumer.handler(session, envelope)
            if result is not None:
                await record_result(session, self.consumer.name, envelope.event_id, result)
        return "ok"

    async def _next_attempt(self, key: str) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, ATTEMPTS_TTL_SECONDS)
            count, _ = await pipe.execute()
        return int(count)

    async def _dead_letter_envelope(
        self, stream: str, envelope: Envelope, attempts: int, error: BaseException
    ) -> None:
        await self._dead_letter(
            stream,
            envelope.model_dump(mode="json"),
            envelope.event_id,
            envelope.trace_id,
            attempts,
            error,
        )

    async def _dead_letter(
        self,
        stream: str,
        envelope: dict[str, Any],
        event_id: uuid.UUID | None,
        trace_id: str | None,
        attempts: int,
        error: BaseException,
    ) -> None:
        logger.error(
            "consumer %s gave up on event %s after %s attempt(s): %s",
            self.consumer.name,
            event_id,
            attempts,
            describe(error),
        )
        async with self.database.unit_of_work() as session:
            session.add(
                DeadLetter(
                    consumer=self.consumer.name,
                    stream=stream,
                    event_id=event_id,
                    envelope=envelope,
                    error=describe(error),
                    traceback="".join(traceback.format_exception(error))[-8000:],
                    trace_id=trace_id,
                    attempts=attempts,
                )
            )

    async def run(self, stop: asyncio.Event, *, block_ms: int = 1000) -> None:
        """Handle messages until `stop` is set (noticed within `block_ms`)."""
        await self.ensure_groups()
        while not stop.is_set():
            try:
                await self.run_once(block_ms)
            except Exception:
                logger.exception("consumer %s: pass failed; retrying", self.consumer.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)


async def run_consumers(
    database: Database,
    redis: Redis,
    consumers: Sequence[Consumer],
    stop: asyncio.Event,
    **options: Any,
) -> None:
    """Run every consumer in this process until `stop` is set (options: see ConsumerRunner)."""
    runners = [ConsumerRunner(database, redis, each, **options) for each in consumers]
    await asyncio.gather(*(runner.run(stop) for runner in runners))
