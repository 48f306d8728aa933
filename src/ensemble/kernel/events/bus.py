"""The event bus: the one seam between the events backbone and its transport.

`EVENT_BUS_URL` picks the transport (`event_bus`): unset, Redis Streams on `REDIS_URL`;
`kafka://host:port[,host:port]`, Kafka. Only two things differ between them:

- **appending** envelopes, in order per aggregate: Redis XADDs each to the stream
  `events:<aggregate_type>` (one pipeline); Kafka publishes each to the topic
  `events.<aggregate_type>` keyed by the aggregate id, so that one partition holds an
  aggregate's events in order;
- **delivering** a consumer group's messages to the code that settles them, acknowledging
  each once that ended: on Redis Streams `kernel.events.runner.ConsumerRunner` (XREADGROUP,
  XAUTOCLAIM, XACK, new messages of a read in one transaction), on Kafka a FastStream
  subscriber (`KafkaBus.subscribe`).

Everything else is the same code on both: the relay's claiming, marking and horizon, and
what happens to a delivered message (`kernel.events.consumer.Delivery`: idempotency,
retries, dead letters, metrics, trace context). See docs/decisions/0014-event-bus-transports.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import chain
from typing import TYPE_CHECKING, Any, Protocol, Self, cast

import hiredis
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from ensemble.kernel.events.envelope import Envelope, decode_fields
from ensemble.kernel.events.models import DeadLetter
from ensemble.kernel.observability.context import RequestContext, parse_traceparent
from ensemble.kernel.observability.tracing import client_span
from ensemble.settings import Settings

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

logger = logging.getLogger(__name__)

STREAM_PREFIX = "events:"
TOPIC_PREFIX = "events."
KAFKA_SCHEME = "kafka://"
FAILURE_PAUSE_SECONDS = 1.0
WAITAOF_TIMEOUT_MS = 2_000  # an `appendfsync everysec` server fsyncs within about a second


def stream_name(aggregate_type: str) -> str:
    """The Redis Stream of an aggregate type's events."""
    return f"{STREAM_PREFIX}{aggregate_type}"


def topic_name(aggregate_type: str) -> str:
    """The Kafka topic of an aggregate type's events (Kafka allows no colon in a name)."""
    return f"{TOPIC_PREFIX}{aggregate_type}"


@dataclass(frozen=True)
class Unreadable:
    """A delivered message that is not an envelope: what it held, as delivered (kept in its
    dead letter; a re-drive sends it again as such), and why it could not be read."""

    raw: dict[str, Any]
    error: Exception


Incoming = Envelope | Unreadable
Handle = Callable[[str, Incoming], Awaitable[object]]
"""`handle(source, message)`: settles a message delivered from stream or topic `source`."""


class EventBus(Protocol):
    """What the relay and re-drives need of a transport. Entered around its use: Kafka
    connects then; Redis Streams use a client that its owner closes."""

    async def append(self, envelopes: Sequence[Envelope]) -> None:
        """Each envelope to its aggregate type's stream or topic, in the given order."""

    async def redrive(self, letters: Sequence[DeadLetter]) -> None:
        """Dead letters back on their stream or topic: the envelope, or the message as it
        was delivered when it was not one."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


def event_bus(settings: Settings, redis: Redis) -> RedisStreamsBus | KafkaBus:
    """The transport `settings` select: Kafka when `EVENT_BUS_URL` is set, else Redis
    Streams on `redis`."""
    if settings.event_bus_url is not None:
        return KafkaBus.from_url(settings.event_bus_url)
    return RedisStreamsBus(redis)


def as_bus(target: EventBus | Redis) -> EventBus:
    """A Redis client stands for the Redis Streams bus on it."""
    return RedisStreamsBus(target) if isinstance(target, Redis) else target


# Redis Streams


class Persistence(StrEnum):
    """How a Redis server lets the relay know appended events are on its disk."""

    WAITAOF = "WAITAOF after each append"  # Redis >= 7.2 with its append-only file on
    FSYNC_ALWAYS = "appendfsync always"  # the AOF is fsynced before any write is answered
    NONE = "not confirmed"  # no AOF, or fsynced every second at best


class NotPersisted(RuntimeError):
    """Redis did not confirm that appended events reached its append-only file."""


async def persistence_of(redis: Redis) -> Persistence:
    """What `redis` can confirm (see `Persistence`); decision 16."""
    server, files = await redis.info("server"), await redis.info("persistence")
    if not int(files.get("aof_enabled", 0)):
        return Persistence.NONE
    major, minor = (int(part) for part in str(server["redis_version"]).split(".")[:2])
    if (major, minor) >= (7, 2):
        return Persistence.WAITAOF
    try:
        fsync = (await redis.config_get("appendfsync")).get("appendfsync")
    except ResponseError:  # CONFIG renamed or disabled: nothing can be assumed
        return Persistence.NONE
    return Persistence.FSYNC_ALWAYS if fsync == "always" else Persistence.NONE


@dataclass(frozen=True)
class RedisStreamsBus:
    """Streams `events:<aggregate_type>` on `redis`; each entry's fields are the envelope's
    (`Envelope.to_stream_fields`). Its consumer groups are read by `ConsumerRunner`.

    With `wait_aof`, an append returns only once Redis has fsynced it to its append-only
    file (`WAITAOF 1 0`, Redis >= 7.2) and raises `NotPersisted` otherwise; `persisting`
    sets it as the server allows."""

    redis: Redis
    wait_aof: bool = False

    def __str__(self) -> str:
        return f"Redis Streams {STREAM_PREFIX}*"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def persisting(self) -> RedisStreamsBus:
        """This bus, waiting for each append to reach the disk if the server needs asking
        (logged: a server that cannot confirm it may lose a second of events in a crash)."""
        persistence = await persistence_of(self.redis)
        if persistence is Persistence.NONE:
            logger.warning(
                "Redis does not confirm that events reach its disk (no append-only file with"
                " appendfsync always, no WAITAOF): a crash of it may lose the last second of"
                " events the outbox holds as published"
            )
        return replace(self, wait_aof=persistence is Persistence.WAITAOF)

    async def append(self, envelopes: Sequence[Envelope]) -> None:
        """XADD each envelope to its stream, in the given order (one round trip, WAITAOF
        included)."""
        entries = [(stream_name(e.aggregate_type), e.to_stream_fields()) for e in envelopes]
        await self._xadd(entries, wait_aof=self.wait_aof)

    async def redrive(self, letters: Sequence[DeadLetter]) -> None:
        await self._xadd([(letter.stream, _entry_of(letter)) for letter in letters])

    async def _xadd(
        self, entries: Sequence[tuple[str, dict[str, str]]], *, wait_aof: bool = False
    ) -> None:
        commands = [
            _packed("XADD", stream, "*", *chain(*fields.items())) for stream, fields in entries
        ]
        if wait_aof and entries:
            commands.append(_packed("WAITAOF", 1, 0, WAITAOF_TIMEOUT_MS))
        replies = await _send_packed(self.redis, commands)
        if wait_aof and entries and int(replies[-1][0]) < 1:
            raise NotPersisted(f"not fsynced within {WAITAOF_TIMEOUT_MS} ms")


def _packed(*args: str | int) -> bytes:
    """One command in the Redis protocol (hiredis packs it in C: redis-py's pipeline encodes
    each argument in Python first, most of the relay's CPU for an XADD of ten fields)."""
    return cast(bytes, hiredis.pack_command(args))  # type: ignore[arg-type]  # stub: 1 argument


async def _send_packed(redis: Redis, commands: Sequence[bytes]) -> list[Any]:
    """Packed commands in one write on one of `redis`'s connections, and their replies in
    order (a pipeline without a transaction). An error reply raises `ResponseError`; the
    connection is then closed, with the replies after it unread."""
    if not commands:
        return []
    pool = redis.connection_pool
    traced = {"db.system": "redis", "db.operation": "PIPELINE", "db.redis.commands": len(commands)}
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        with client_span("redis pipeline", traced):
            await connection.send_packed_command(b"".join(commands))
            return [await connection.read_response() for _ in commands]
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)


def read_entry(fields: Mapping[Any, bytes | str]) -> Incoming:
    """A stream entry's envelope, or its fields if it is not one."""
    try:
        return Envelope.from_stream_fields(fields)
    except (ValueError, KeyError) as exc:
        return Unreadable(decode_fields(fields), exc)


def _entry_of(letter: DeadLetter) -> dict[str, str]:
    if letter.event_id is None:
        return {str(name): str(value) for name, value in letter.envelope.items()}
    return Envelope.model_validate(letter.envelope).to_stream_fields()


# Kafka

Record = tuple[str, bytes | None, bytes, dict[str, str]]
"""What is published: topic, key, value and headers."""


class Received(Protocol):
    """What is read of a delivered Kafka record (aiokafka's `ConsumerRecord`)."""

    topic: str
    key: bytes | None
    value: bytes | None


def kafka_servers(url: str) -> list[str]:
    """The bootstrap servers of `kafka://host:port[,host:port]`."""
    return url.removeprefix(KAFKA_SCHEME).rstrip("/").split(",")


@dataclass(frozen=True)
class KafkaBus:
    """Topics `events.<aggregate_type>` through a FastStream broker; each record's key is the
    aggregate id and its value the envelope as JSON."""

    broker: KafkaBroker

    @classmethod
    def from_url(cls, url: str) -> KafkaBus:
        # imported where Kafka is used only: they add 0.3 s to a process's start
        from faststream.kafka import KafkaBroker

        # idempotent producer: its retries neither duplicate nor reorder a partition's records;
        # FastStream's per-message logs at DEBUG (ours say what was done with each)
        broker = KafkaBroker(
            kafka_servers(url),
            client_id="ensemble",
            enable_idempotence=True,
            log_level=logging.DEBUG,
        )
        return cls(broker)

    def __str__(self) -> str:
        return f"Kafka topics {TOPIC_PREFIX}*"

    async def __aenter__(self) -> Self:
        await self.broker.start()  # connects, and starts the subscribers
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.broker.stop()

    async def append(self, envelopes: Sequence[Envelope]) -> None:
        await self._send(_record_of(envelope) for envelope in envelopes)

    async def redrive(self, letters: Sequence[DeadLetter]) -> None:
        await self._send(_letter_record(letter) for letter in letters)

    async def _send(self, records: Iterable[Record]) -> None:
        """Publish in order without waiting for each, then until every one is stored (a
        failure raises: the caller sends them all again)."""
        sent = [
            await self.broker.publish(value, topic, key=key, headers=headers, no_confirm=True)
            for topic, key, value, headers in records
        ]
        # FastStream's test broker delivers at once and returns no future
        await asyncio.gather(*(each for each in sent if each is not None))

    def subscribe(self, group: str, aggregate_types: Iterable[str], handle: Handle) -> None:
        """Deliver the messages of consumer group `group` on the aggregate types' topics to
        `handle`, one at a time in partition order (a new group starts from the oldest
        kept). A message's offset is committed once `handle` returned (the message done,
        skipped or dead-lettered); if it raised (the database away), FastStream seeks back
        and the message comes again after a pause. Runs once the bus is entered."""
        from faststream import AckPolicy, Context  # imported late as above, hence `Any` below

        subscriber = self.broker.subscriber(
            *(topic_name(kind) for kind in aggregate_types),
            group_id=group,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
        )

        async def receive(message: Any = Context("message")) -> None:
            record: Received = message.raw_message
            try:
                await handle(record.topic, read_record(record))
            except Exception:
                await asyncio.sleep(FAILURE_PAUSE_SECONDS)  # no tight loop while it lasts
                raise

        subscriber(receive)


def read_record(record: Received) -> Incoming:
    """A record's envelope, or its key and value if it is not one."""
    try:
        return Envelope.model_validate_json(record.value or b"")
    except ValueError as exc:
        return Unreadable({"key": _text(record.key), "value": _text(record.value)}, exc)


def _record_of(envelope: Envelope) -> Record:
    """The envelope as JSON keyed by its aggregate id; headers: its content type and trace
    (a W3C `traceparent` for tools that read headers; consumers read the envelope's ids)."""
    headers = {"content-type": "application/json"}
    traceparent = RequestContext(trace_id=envelope.trace_id or "").traceparent()
    if parse_traceparent(traceparent) is not None:
        headers["traceparent"] = traceparent
    key = envelope.aggregate_id.encode()
    return topic_name(envelope.aggregate_type), key, envelope.model_dump_json().encode(), headers


def _letter_record(letter: DeadLetter) -> Record:
    """An envelope goes to its aggregate type's topic (also when it was dead-lettered on
    Redis Streams before a switch to Kafka); an unreadable message back as it came."""
    if letter.event_id is not None:
        return _record_of(Envelope.model_validate(letter.envelope))
    key, value = letter.envelope.get("key"), letter.envelope.get("value")
    return letter.stream, None if key is None else str(key).encode(), str(value or "").encode(), {}


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode(errors="replace")
