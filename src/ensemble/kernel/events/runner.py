"""Running consumers on a transport: the Redis Streams loop (`ConsumerRunner`: XREADGROUP,
XAUTOCLAIM and XACK around `Delivery`, a read's new messages in one transaction), and
`run_consumers`, which runs a process's consumers on Redis Streams or, through FastStream
subscribers, on Kafka (`subscribe`). What happens to each delivered message is
`kernel.events.consumer.Delivery`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import Counter as Tally
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from ensemble.kernel.db import Database
from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.events.bus import (
    KafkaBus,
    RedisStreamsBus,
    Unreadable,
    read_entry,
)
from ensemble.kernel.events.consumer import (
    EVENTS_CONSUMED,
    PROCESSED_TABLE,
    Consumer,
    Delivery,
    Outcome,
    event_context,
)
from ensemble.kernel.events.envelope import as_text

logger = logging.getLogger(__name__)

StreamFields = Mapping[Any, bytes | str]
Message = tuple[bytes, StreamFields]


class TransactionLost(Exception):
    """A handler's failure took the shared transaction down with it."""


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
                raw = await transaction_connection(session)
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
                                raw, savepoint, envelope.event_id
                            )
                            try:
                                outcome = await self._run(session, envelope, claimed)
                                if session.new or session.dirty or session.deleted:
                                    await session.flush()
                            except Exception as exc:
                                failure = exc
                                if not session.is_active:
                                    raise TransactionLost from exc
                                await raw.execute("ROLLBACK TO SAVEPOINT event_message")
                                session.expunge_all()
                                break
                            # released with the next one's start (same round trip)
                            savepoint = "RELEASE SAVEPOINT event_message; SAVEPOINT event_message"
                            session.expunge_all()
                            outcomes.append(outcome)
                    if time.monotonic() > deadline:
                        break
        except TransactionLost:
            return len(outcomes), failure, True
        for outcome, count in Tally(outcomes).items():
            EVENTS_CONSUMED.labels(self.consumer.name, outcome).inc(count)
        return len(outcomes), failure, False

    async def _savepoint_and_claim(
        self, raw: asyncpg.Connection[asyncpg.Record], savepoint: str, event_id: uuid.UUID
    ) -> bool:
        """Open the message's savepoint, then claim its event in it: one round trip (the
        statements go as one simple query, the claim's values inlined: a UUID and the
        consumer's name quoted by the database, see `_name_literal`). Whether the claim
        inserted its row (not a duplicate)."""
        if self._name_literal is None:
            self._name_literal = await raw.fetchval("SELECT quote_literal($1)", self.consumer.name)
        status = await raw.execute(
            f"{savepoint}; INSERT INTO {PROCESSED_TABLE} (consumer, event_id, processed_at)"
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
