"""Consuming events: consumer groups on the event bus, idempotent handlers, retries and a DLQ.

A `Consumer` is a named handler of some aggregate types' events; its name is its consumer
group, so every consumer sees every event of those types. What happens to a delivered
message is the same whichever transport delivered it (`Delivery`):

- in one database transaction, it first inserts `(consumer, event_id)` into
  `events.processed_events` (a redelivery finds the row, or waits on it, and is skipped as
  a duplicate), then runs `handler(session, envelope)`; both commit together;
- a transient error retries after an exponential backoff with jitter, up to the policy's
  attempts; the attempt count lives in Redis per (consumer, event), so a message that kills
  its process keeps counting in the process it is delivered to next (on Redis Streams the
  first attempt of a new message is the one not written down: most messages succeed at
  once, and a reclaimed message counts it, see `Delivery._count_attempt`);
- an `AppError`, or the last failed attempt, writes the message to `events.dead_letters`;
- then the transport acknowledges it, so a poison message never holds back the ones behind.

Delivering is the transport's (`kernel.events.bus`, run by `kernel.events.runner`). On
Redis Streams, `ConsumerRunner` reads the group's new messages (XREADGROUP) and reclaims
those left pending too long by a dead process (XAUTOCLAIM); the new messages of one read
share a transaction, each in a savepoint of its own (one commit, so one wait for the disk,
per read; see `ConsumerRunner.read`), and one XACK. On Kafka, a FastStream subscriber
hands each message to `Delivery.settle` and commits its offset after (`KafkaBus.subscribe`).

Handling runs under the envelope's trace and request ids, so every log line carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from fastapi.encoders import jsonable_encoder
from opentelemetry.trace import SpanKind
from prometheus_client import Counter
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import Database, utcnow
from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.events.bus import (
    Incoming,
    Unreadable,
    stream_name,
)
from ensemble.kernel.events.envelope import Envelope, EventPayload, type_names
from ensemble.kernel.events.models import SCHEMA, DeadLetter, ProcessedEvent
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
Redelivered = Literal["no", "yes", "unknown"]
"""Whether the group delivered a message before: "no" (a new message on Redis Streams),
"yes" (reclaimed from a member that died), "unknown" (Kafka cannot tell)."""

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
    types: Iterable[type[EventPayload]] | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> Callable[[Handler], Consumer]:
    """Declare a consumer: `@consumer("eco.ranking", aggregate_types=["scan"])`; `types=`
    (payload classes) narrows it to those events."""

    def declare(handler: Handler) -> Consumer:
        return Consumer(
            name=name,
            aggregate_types=tuple(aggregate_types),
            handler=handler,
            types=type_names(types) if types is not None else None,
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


PROCESSED_TABLE = f"{SCHEMA}.{ProcessedEvent.__tablename__}"
_CLAIM = (
    f"INSERT INTO {PROCESSED_TABLE} (consumer, event_id, processed_at)"
    " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING event_id"
)


async def claim_event(session: AsyncSession, consumer_name: str, event_id: uuid.UUID) -> bool:
    """Mark the event processed by `consumer_name` in this transaction; False if it already
    was. A concurrent delivery of the same event waits here until the first one ends.
    (Plain SQL: it runs for every delivery, and the ORM statement costs several times the
    CPU of the round trip.)"""
    raw = await transaction_connection(session)
    return await raw.fetchval(_CLAIM, consumer_name, event_id, utcnow()) is not None


async def record_result(
    session: AsyncSession, consumer_name: str, event_id: uuid.UUID, result: Any
) -> None:
    stmt = (
        update(ProcessedEvent)
        .where(ProcessedEvent.consumer == consumer_name, ProcessedEvent.event_id == event_id)
        .values(result=jsonable_encoder(result))
    )
    await session.execute(stmt)


@dataclass
class Delivery:
    """What happens to a delivered message of `consumer`, whichever transport delivered it:
    `settle` handles it to its end (done, skipped as a duplicate, ignored or dead-lettered),
    after which the transport acknowledges it. `redis` keeps the attempt counts."""

    database: Database
    redis: Redis
    consumer: Consumer

    async def settle(
        self,
        source: str,
        message: Incoming,
        *,
        redelivered: Redelivered,
        failure: Exception | None = None,
    ) -> Outcome:
        """Handle a message of stream or topic `source` to its end, in transactions of its
        own. `failure`: its first attempt already ran (in a shared transaction) and failed
        so."""
        if isinstance(message, Unreadable):
            await self._dead_letter(source, message.raw, None, None, 1, message.error)
            outcome: Outcome = "dead_lettered"
        elif self.consumer.handles(message):
            with event_context(message, self.consumer.name):
                outcome = await self._deliver(source, message, redelivered, failure)
        else:
            outcome = "ignored"
        EVENTS_CONSUMED.labels(self.consumer.name, outcome).inc()
        return outcome

    async def _deliver(
        self,
        source: str,
        envelope: Envelope,
        redelivered: Redelivered,
        failure: Exception | None = None,
    ) -> Outcome:
        """Attempts until one succeeds or the policy gives up (then a dead letter).
        `failure`: the first attempt already ran, in a shared transaction, and failed so."""
        attempts_key = f"events:attempts:{self.consumer.name}:{envelope.event_id}"
        every = redelivered == "unknown"
        counted = redelivered != "no"
        attempt = await self._count_attempt(attempts_key, every=every) if counted else 1
        while True:
            if failure is None:
                if attempt > self.consumer.max_attempts:  # earlier deliveries died mid-way
                    failure = RuntimeError(f"abandoned after {attempt - 1} deliveries")
                    await self._dead_letter_envelope(source, envelope, attempt - 1, failure)
                    outcome: Outcome = "dead_lettered"
                    break
                try:
                    outcome = await self.attempt(envelope)
                    break
                except Exception as exc:
                    failure = exc
            if not self.consumer.retry.should_retry(attempt - 1, failure):
                await self._dead_letter_envelope(source, envelope, attempt, failure)
                outcome = "dead_lettered"
                break
            EVENTS_CONSUMED.labels(self.consumer.name, "retry").inc()
            logger.warning(
                "consumer %s: attempt %s at event %s failed (%s); retrying",
                self.consumer.name,
                attempt,
                envelope.event_id,
                describe(failure),
            )
            await asyncio.sleep(backoff_seconds(self.consumer.retry, attempt))
            attempt = await self._count_attempt(attempts_key, every=every)
            failure, counted = None, True
        if counted:
            await self.redis.delete(attempts_key)  # kept if this process dies before here
        return outcome

    async def attempt(self, envelope: Envelope) -> Outcome:
        """One transaction: claim the event for this consumer, then run the handler."""
        async with self.database.unit_of_work() as session:
            return await self._run(session, envelope)

    async def _run(
        self, session: AsyncSession, envelope: Envelope, claimed: bool | None = None
    ) -> Outcome:
        """Claim (unless `claimed` says how that went), handle, record the result."""
        if claimed is None:
            claimed = await claim_event(session, self.consumer.name, envelope.event_id)
        if not claimed:
            return "duplicate"
        result = await self.consumer.handler(session, envelope)
        if result is not None:
            await record_result(session, self.consumer.name, envelope.event_id, result)
        return "ok"

    async def _count_attempt(self, key: str, *, every: bool) -> int:
        """The number of the attempt about to start, written down before it starts.

        On Redis Streams the first attempt of a new message is not written (no round trip
        for the messages that succeed at once), so an absent count stands for it: `SET NX 1`
        then `INCR` gives 2 for the second attempt, in this member (after a failure) or in
        one that reclaimed the message from a member that died in its first attempt. With
        `every` (a transport that cannot tell a first delivery) every attempt is written,
        and an absent count stands for none.
        """
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0 if every else 1, nx=True, ex=ATTEMPTS_TTL_SECONDS)
            pipe.incr(key)
            pipe.expire(key, ATTEMPTS_TTL_SECONDS)
            _, count, _ = await pipe.execute()
        return int(count)

    async def _dead_letter_envelope(
        self, source: str, envelope: Envelope, attempts: int, error: BaseException
    ) -> None:
        await self._dead_letter(
            source,
            envelope.model_dump(mode="json"),
            envelope.event_id,
            envelope.trace_id,
            attempts,
            error,
        )

    async def _dead_letter(
        self,
        source: str,
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
                    stream=source,
                    event_id=event_id,
                    envelope=envelope,
                    error=describe(error),
                    traceback="".join(traceback.format_exception(error))[-8000:],
                    trace_id=trace_id,
                    attempts=attempts,
                )
            )
