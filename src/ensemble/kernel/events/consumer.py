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

Delivering is the transport's (`kernel.events.bus`). On Redis Streams, `ConsumerRunner`
reads the group's new messages (XREADGROUP) and reclaims those left pending too long by a
dead process (XAUTOCLAIM); the new messages of one read share a transaction, each in a
savepoint of its own (one commit, so one wait for the disk, per read; see
`ConsumerRunner.read`), and one XACK. On Kafka, a FastStream subscriber hands each message
to `Delivery.settle` and commits its offset after (`KafkaBus.subscribe`).

Handling runs under the envelope's trace and request ids, so every log line carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import traceback
import uuid
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, cast

from fastapi.encoders import jsonable_encoder
from opentelemetry.trace import SpanKind
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import Database, utcnow
from ensemble.kernel.db.raw import driver_connection, transaction_connection
from ensemble.kernel.events.bus import (
    Incoming,
    KafkaBus,
    RedisStreamsBus,
    Unreadable,
    read_entry,
    stream_name,
)
from ensemble.kernel.events.envelope import Envelope, as_text
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


class _TransactionLost(Exception):
    """A handler's failure took the shared transaction down with it."""


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


_PROCESSED = f"{SCHEMA}.{ProcessedEvent.__tablename__}"
_CLAIM = (
    f"INSERT INTO {_PROCESSED} (consumer, event_id, processed_at)"
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


def default_member_name() -> str:
    """This process's name inside consumer groups."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class ConsumerRunner(Delivery):
    """The Redis Streams transport: runs one consumer in this process under the group
    member name `member`, settling its messages as `Delivery` does.

    Messages of a stream are handled one at a time in stream order; with one member per
    group, the order per aggregate holds (a dead-lettered message is skipped, not waited
    for). The new messages of one read share a database transaction, each in a savepoint
    of its own (see `read`); if that transaction is lost (a handler's failed ORM flush, a
    failed commit), the messages it held run again on their own, so a handler may run
    twice for one event, its effects still only once. While messages keep coming, reads
    start at most every `linger_ms` (see `run`). `claim_idle_ms` is how long a message may
    stay unacknowledged before another member takes it over: keep it well above the
    handler's time plus its backoffs. Members look for such messages at most every quarter
    of it, so a dead member's messages are taken over between 1 and 1.25 times
    `claim_idle_ms` after their delivery.
    """

    member: str = field(default_factory=default_member_name)
    claim_idle_ms: int = 60_000
    batch: int = 50
    transaction_ms: float = 100.0
    linger_ms: float = 10.0
    _next_reclaim: float = field(default=0.0, init=False, repr=False)
    _name_literal: str | None = field(default=None, init=False, repr=False)

    async def ensure_groups(self) -> None:
        """Create the consumer group on each stream (and the stream), reading from the start."""
        for stream in self.consumer.streams:
            try:
                await self.redis.xgroup_create(stream, self.consumer.name, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run_once(self, block_ms: int | None = 1000) -> int:
        """Reclaim abandoned messages (when due), then read new ones (waiting up to
        `block_ms`); returns how many messages were handled."""
        reclaimed = 0
        now = time.monotonic()
        if now >= self._next_reclaim:
            self._next_reclaim = now + self.claim_idle_ms / 4000
            reclaimed = await self.reclaim()
        return reclaimed + await self.read(block_ms)

    async def read(self, block_ms: int | None) -> int:
        """Handle up to `batch` new messages of each stream, in stream order.

        They run in one transaction (one commit instead of one a message: the commit's
        flush to disk dominates a small handler), each in a savepoint, so a message that
        fails leaves nothing behind: the messages before it commit, it then retries or is
        dead-lettered on its own as in `handle`, and the rest go on in a new transaction
        (also after `transaction_ms`, so locks taken by handlers are not held long).
        """
        response = await self.redis.xreadgroup(
            self.consumer.name,
            self.member,
            dict.fromkeys(self.consumer.streams, ">"),
            count=self.batch,
            block=block_ms,
        )
        handled = 0
        for stream, messages in cast(list[tuple[bytes, list[Message]]], response or []):
            handled += await self._handle_new(as_text(stream), messages)
        return handled

    async def reclaim(self) -> int:
        """Take over messages another member left unacknowledged for `claim_idle_ms`
        (each in transactions of its own: one of them may be what killed that member)."""
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

    async def _handle_new(self, stream: str, messages: Sequence[Message]) -> int:
        """First deliveries in shared transactions; ACKed together once settled. A crash
        before the ACK leaves them pending: reclaimed later, they are skipped as duplicates
        (or handled, if their transaction never committed)."""
        done: list[bytes | str] = []
        queue = list(messages)
        try:
            while queue:
                try:
                    settled, failure, lost = await self._in_transaction(stream, queue)
                except Exception:  # the shared transaction itself (commit, connection)
                    logger.warning(
                        "consumer %s: a shared transaction failed; handling its %s"
                        " message(s) one by one",
                        self.consumer.name,
                        len(queue),
                        exc_info=True,
                    )
                    settled, failure, lost = len(queue), None, True
                if lost:  # rolled back: what it had settled runs again on its own
                    for message_id, fields in queue[:settled]:
                        await self.settle(stream, read_entry(fields), redelivered="no")
                        done.append(message_id)
                else:
                    done.extend(message_id for message_id, _ in queue[:settled])
                del queue[:settled]
                if failure is not None:  # the head of the queue failed its first attempt
                    message_id, fields = queue.pop(0)
                    await self.settle(stream, read_entry(fields), redelivered="no", failure=failure)
                    done.append(message_id)
        finally:
            if done:
                await self.redis.xack(stream, self.consumer.name, *done)
        return len(done)

    async def _in_transaction(
        self, stream: str, queue: Sequence[Message]
    ) -> tuple[int, Exception | None, bool]:
        """Messages from the head of `queue` in one transaction, each in a savepoint, until
        one fails or is not an envelope, the queue ends or `transaction_ms` passed.

        Returns how many were settled, the error of the one that failed (next in the
        queue; a message that is not an envelope fails with its parse error), and whether
        the transaction was lost with it (a failed ORM flush rolls back the whole
        transaction: then those settled were not committed). Each handler's changes are
        flushed inside its savepoint and the session is cleared after each message, so a
        handler never sees objects of another message's.
        """
        outcomes: list[Outcome] = []
        failure: Exception | None = None
        deadline = time.monotonic() + self.transaction_ms / 1000
        savepoint = "SAVEPOINT event_message"
        try:
            async with self.database.unit_of_work() as session:
                raw = await driver_connection(session)
                for _, fields in queue:
                    envelope = read_entry(fields)
                    if isinstance(envelope, Unreadable):
                        failure = envelope.error  # dead-lettered outside this transaction
                        break
                    if not self.consumer.handles(envelope):
                        outcomes.append("ignored")
                    else:
                        with event_context(envelope, self.consumer.name):
                            claimed = await self._savepoint_and_claim(
                                session, raw, savepoint, envelope.event_id
                            )
                            try:
                                outcome = await self._run(session, envelope, claimed)
                                if session.new or session.dirty or session.deleted:
                                    await session.flush()
                            except Exception as exc:
                                failure = exc
                                if not session.is_active:
                                    raise _TransactionLost from exc
                                await raw.execute("ROLLBACK TO SAVEPOINT event_message")
                                session.expunge_all()
                                break
                            # released with the next one's start (same round trip)
                            savepoint = "RELEASE SAVEPOINT event_message; SAVEPOINT event_message"
                            session.expunge_all()
                            outcomes.append(outcome)
                    if time.monotonic() > deadline:
                        break
        except _TransactionLost:
            return len(outcomes), failure, True
        for outcome, count in Tally(outcomes).items():
            EVENTS_CONSUMED.labels(self.consumer.name, outcome).inc(count)
        return len(outcomes), failure, False

    async def _savepoint_and_claim(
        self, session: AsyncSession, raw: Any, savepoint: str, event_id: uuid.UUID
    ) -> bool:
        """Open the message's savepoint, then claim its event in it: one round trip (the
        statements go as one simple query, the claim's values inlined: a UUID and the
        consumer's name quoted by the database, see `_name_literal`), except for the
        transaction's first statement, which goes through SQLAlchemy so that it sends
        BEGIN. Whether the claim inserted its row (not a duplicate)."""
        if not raw.is_in_transaction():
            await session.execute(text(savepoint))
            return await claim_event(session, self.consumer.name, event_id)
        if self._name_literal is None:
            self._name_literal = await raw.fetchval("SELECT quote_literal($1)", self.consumer.name)
        status = await raw.execute(
            f"{savepoint}; INSERT INTO {_PROCESSED} (consumer, event_id, processed_at)"
            f" VALUES ({self._name_literal}, '{uuid.UUID(str(event_id))}', clock_timestamp())"
            " ON CONFLICT DO NOTHING"
        )
        return bool(status == "INSERT 0 1")

    async def handle(self, stream: str, message_id: bytes | str, fields: StreamFields) -> Outcome:
        """Handle one message to its end (done, skipped or dead-lettered) in transactions
        of its own, then ACK it."""
        outcome = await self.settle(stream, read_entry(fields), redelivered="yes")
        await self.redis.xack(stream, self.consumer.name, message_id)
        return outcome

    async def run(self, stop: asyncio.Event, *, block_ms: int = 1000) -> None:
        """Handle messages until `stop` is set (noticed within `block_ms`).

        While messages keep coming, reads start at most every `linger_ms`, so that a read
        takes what arrived meanwhile (one transaction and one ACK for them) instead of
        running once per message; a message arriving after a quiet spell is read at once.
        """
        await self.ensure_groups()
        while not stop.is_set():
            started = time.monotonic()
            try:
                handled = await self.run_once(block_ms)
            except Exception:
                logger.exception("consumer %s: pass failed; retrying", self.consumer.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                continue
            pause = started + self.linger_ms / 1000 - time.monotonic()
            if 0 < handled < self.batch and pause > 0:  # a full read: more are waiting
                await asyncio.sleep(pause)


async def run_consumers(
    database: Database,
    redis: Redis,
    consumers: Sequence[Consumer],
    stop: asyncio.Event,
    *,
    bus: RedisStreamsBus | KafkaBus | None = None,
    **options: Any,
) -> None:
    """Run every consumer in this process until `stop` is set: on Kafka when `bus` is a
    `KafkaBus`, else on the Redis Streams of `redis` (options: see ConsumerRunner). `redis`
    keeps the attempt counts on either."""
    if isinstance(bus, KafkaBus):
        subscribe(bus, database, redis, consumers)
        async with bus:
            await stop.wait()
        return
    runners = [ConsumerRunner(database, redis, each, **options) for each in consumers]
    await asyncio.gather(*(runner.run(stop) for runner in runners))


def subscribe(
    bus: KafkaBus, database: Database, redis: Redis, consumers: Sequence[Consumer]
) -> None:
    """Each consumer as a consumer group of `bus`, settling its messages as `Delivery` does
    (they start coming once the bus is entered). Kafka cannot tell a redelivery, so every
    attempt is counted."""
    for each in consumers:
        settle = partial(Delivery(database, redis, each).settle, redelivered="unknown")
        bus.subscribe(each.name, each.aggregate_types, settle)
