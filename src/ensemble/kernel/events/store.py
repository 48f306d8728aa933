"""The event store: aggregates rebuilt from their own events, with snapshots and time travel.

Each aggregate `(aggregate_type, aggregate_id)` owns a stream of events numbered 1, 2, 3 …
`append` writes the next events of a stream given the sequence the writer last saw
(optimistic concurrency: the primary key refuses a number written twice, so of two writers
that saw the same sequence exactly one wins, the other gets `ConcurrencyConflict`, 409).
`load` rebuilds an aggregate from its newest snapshot plus the events after it, optionally
as it was at an earlier instant. See docs/decisions/0011-event-store.md.

Like every kernel service these take the caller's session and never commit.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db.raw import read_all, transaction_connection
from ensemble.kernel.errors import Conflict
from ensemble.kernel.events.envelope import Envelope, EventPayload
from ensemble.kernel.events.models import Snapshot, StoredEvent
from ensemble.kernel.events.outbox import COLUMNS as OUTBOX_COLUMNS
from ensemble.kernel.events.outbox import TABLE as OUTBOX_TABLE
from ensemble.kernel.events.outbox import WAKE_RELAY
from ensemble.kernel.observability.context import RequestContext, current_request_context

SNAPSHOT_EVERY = 100
"""A snapshot is written after every event whose sequence is a multiple of this."""

SEQUENCE_CONSTRAINT = "pk_stored_events"

NewEvent = Envelope | EventPayload
"""An event to append: an envelope of this aggregate, or a payload (its class gives the
type and version)."""


class ConcurrencyConflict(Conflict):
    code = "concurrent_modification"
    message = "The aggregate was changed by someone else; load it again and retry."


class Aggregate(Protocol):
    """What the store needs of an event-sourced aggregate (built with no arguments)."""

    def apply(self, event: Envelope) -> None:
        """Change the state by one event (never fails for a stored event)."""

    def snapshot(self) -> dict[str, Any]:
        """The state as JSON-serialisable data, which `restore` takes back."""

    def restore(self, state: dict[str, Any]) -> None:
        """Replace the state with one `snapshot` returned."""


A = TypeVar("A", bound=Aggregate)


# Writing


async def append(
    session: AsyncSession,
    *,
    aggregate_type: str,
    aggregate_id: str,
    expected_sequence: int,
    events: Sequence[NewEvent],
    aggregate: Aggregate | None = None,
    publish: bool = False,
) -> int:
    """Append `events` as numbers `expected_sequence + 1 …`; returns the new last sequence.

    `expected_sequence` is the stream's last sequence as the caller saw it (0 for a new
    stream). If another writer appended since, or the stream ends before it, raises
    `ConcurrencyConflict`: the caller reloads and retries. The events are written by one
    statement that writes nothing on a conflict, so the caller's transaction stays usable.

    With `aggregate` (as loaded at `expected_sequence`), the events are applied to it and
    its state is saved as a snapshot after each event whose number is a multiple of
    `SNAPSHOT_EVERY`. After a conflict it holds events that were not stored: load it again.
    With `publish`, the same statement also writes each event to the outbox, as
    `outbox.publish` would, and wakes the relay at commit.
    """
    if expected_sequence < 0:
        raise ValueError("expected_sequence must be 0 or more")
    if not events:
        return expected_sequence
    context = current_request_context()
    envelopes = [_envelope(aggregate_type, aggregate_id, event, context) for event in events]
    snapshots = [] if aggregate is None else _apply(aggregate, envelopes, expected_sequence)
    written = await _insert_events(session, envelopes, expected_sequence, publish=publish)
    if written != len(envelopes):
        raise await _conflict(session, aggregate_type, aggregate_id, expected_sequence)
    if snapshots:
        await session.execute(insert(Snapshot), snapshots)
    return expected_sequence + len(envelopes)


def _envelope(
    aggregate_type: str, aggregate_id: str, event: NewEvent, context: RequestContext
) -> Envelope:
    """The event as an envelope of this aggregate; missing trace and request ids are the
    running request's or job's (as `outbox.publish` fills them)."""
    if isinstance(event, EventPayload):
        return Envelope.of(
            event,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            trace_id=context.trace_id,
            request_id=context.request_id,
        )
    if (event.aggregate_type, event.aggregate_id) != (aggregate_type, aggregate_id):
        raise ValueError(f"{event.aggregate_key} is not {aggregate_type}:{aggregate_id}")
    trace_id = event.trace_id or context.trace_id
    request_id = event.request_id or context.request_id
    if (trace_id, request_id) == (event.trace_id, event.request_id):
        return event
    return event.model_copy(update={"trace_id": trace_id, "request_id": request_id})


# The append statements. Each inserts the events numbered `$3 + 1 …`, all of them or none,
# in one round trip, and its command tag counts the events written (`_count`); the publishing
# ones also write the events' outbox rows and wake the relay at commit.
#
# Event `$3 + 1` goes in only if event `$3` exists (no gap) and nobody holds `$3 + 1`:
# `ON CONFLICT … DO NOTHING` waits for a concurrent writer of that number and skips the row
# if that one commits, so a lost race raises no error and leaves the transaction usable. In a
# batch, the later events go in only if the first did. Once we hold `$3 + 1`, no other writer
# through this store can hold a later number of the batch (its own first row would be
# `$3 + 1`, or its head check would need a row we have not committed), so they cannot collide
# while streams are written only through `append`. One event, the common case, takes plain
# parameters; a batch takes arrays (`unnest`), which costs the client and the server more.

_STORED_COLUMNS = (
    "aggregate_type, aggregate_id, sequence_number, event_id, type, version, payload,"
    " trace_id, occurred_at"
)
_HEAD_EXISTS = """($3::bigint = 0 OR EXISTS (
        SELECT FROM events.stored_events
        WHERE aggregate_type = $1::text AND aggregate_id = $2::text
          AND sequence_number = $3::bigint))"""
_UNLESS_TAKEN = f"ON CONFLICT ON CONSTRAINT {SEQUENCE_CONSTRAINT} DO NOTHING"
_RETURNING = "RETURNING sequence_number, event_id, type, version, payload, trace_id, occurred_at"

_APPEND_ONE = f"""
INSERT INTO events.stored_events ({_STORED_COLUMNS})
SELECT $1::text, $2::text, $3::bigint + 1, $4::uuid, $5::text, $6::int, $7::text::jsonb,
    $8::text, $9::timestamptz
WHERE {_HEAD_EXISTS}
{_UNLESS_TAKEN}"""
"""One event, from plain parameters `$4 … $9` (its tag `INSERT 0 n` counts it)."""

_STORED_MANY = f"""
WITH batch AS (
    SELECT * FROM unnest($4::uuid[], $5::text[], $6::int[], $7::text[], $8::text[],
                         $9::timestamptz[])
        WITH ORDINALITY AS e(event_id, type, version, payload, trace_id, occurred_at, n)
), first_row AS (
    INSERT INTO events.stored_events ({_STORED_COLUMNS})
    SELECT $1::text, $2::text, $3::bigint + n,
        event_id, type, version, payload::jsonb, trace_id, occurred_at
    FROM batch
    WHERE n = 1 AND {_HEAD_EXISTS}
    {_UNLESS_TAKEN}
    {_RETURNING}
), other_rows AS (
    INSERT INTO events.stored_events ({_STORED_COLUMNS})
    SELECT $1::text, $2::text, $3::bigint + n,
        event_id, type, version, payload::jsonb, trace_id, occurred_at
    FROM batch
    WHERE n > 1 AND EXISTS (SELECT FROM first_row)
    {_RETURNING}
), stored AS (
    SELECT * FROM first_row UNION ALL SELECT * FROM other_rows
)"""
"""A batch, from arrays `$4 … $9` of one element per event, written as the CTE `stored`."""


def _published(request_id: str) -> str:
    """The outbox rows of the events in `stored`, in event order (each draws its outbox `seq`
    in turn), then the relay's wake-up; one row per event written."""
    return f""", published AS (
    INSERT INTO {OUTBOX_TABLE} ({OUTBOX_COLUMNS})
    SELECT event_id, $1::text, $2::text, type, version, payload, trace_id, {request_id},
        occurred_at
    FROM stored
    ORDER BY sequence_number
    RETURNING 1
)
SELECT {WAKE_RELAY} FROM stored"""


_APPEND_MANY = f"{_STORED_MANY}\nSELECT FROM stored"
"""A batch (its tag `SELECT n` counts the events written)."""

_PUBLISH_ONE = f"WITH stored AS ({_APPEND_ONE}\n{_RETURNING}\n){_published('$10::text')}"
"""One event and its outbox row, with request id `$10`."""

_PUBLISH_MANY = _STORED_MANY + _published("($10::text[])[sequence_number - $3::bigint]")
"""A batch and its outbox rows, with the request ids of array `$10`."""


async def _insert_events(
    session: AsyncSession, envelopes: list[Envelope], expected_sequence: int, *, publish: bool
) -> int:
    """Write the events after `expected_sequence` (and publish them); the number written:
    all, or 0."""
    connection = await transaction_connection(session)
    first = envelopes[0]
    head = (first.aggregate_type, first.aggregate_id, expected_sequence)
    if len(envelopes) == 1:
        event = _event_parameters(first)
        if not publish:
            return _count(await connection.execute(_APPEND_ONE, *head, *event))
        return _count(await connection.execute(_PUBLISH_ONE, *head, *event, first.request_id))
    events = [list(column) for column in zip(*map(_event_parameters, envelopes), strict=True)]
    if not publish:
        return _count(await connection.execute(_APPEND_MANY, *head, *events))
    request_ids = [envelope.request_id for envelope in envelopes]
    return _count(await connection.execute(_PUBLISH_MANY, *head, *events, request_ids))


def _event_parameters(envelope: Envelope) -> tuple[Any, ...]:
    """`$4 … $9` of one event."""
    return (
        envelope.event_id,
        envelope.type,
        envelope.version,
        json.dumps(envelope.payload),
        envelope.trace_id,
        envelope.occurred_at,
    )


def _count(status: str) -> int:
    """The rows a statement wrote or returned, from its command tag (`INSERT 0 3`,
    `SELECT 3`)."""
    return int(status.rpartition(" ")[2])


def _apply(aggregate: Aggregate, envelopes: list[Envelope], expected: int) -> list[dict[str, Any]]:
    """Apply the events to `aggregate`; the snapshot rows due along the way."""
    snapshots: list[dict[str, Any]] = []
    for sequence, envelope in enumerate(envelopes, start=expected + 1):
        aggregate.apply(envelope)
        if sequence % SNAPSHOT_EVERY == 0:
            snapshots.append(
                {
                    "aggregate_type": envelope.aggregate_type,
                    "aggregate_id": envelope.aggregate_id,
                    "sequence_number": sequence,
                    "state": copy.deepcopy(aggregate.snapshot()),
                }
            )
    return snapshots


async def _conflict(
    session: AsyncSession, aggregate_type: str, aggregate_id: str, expected_sequence: int
) -> ConcurrencyConflict:
    current = await last_sequence(session, aggregate_type, aggregate_id)
    return ConcurrencyConflict(
        details={
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "expected_sequence": expected_sequence,
            "current_sequence": current,
        }
    )


# Reading


async def last_sequence(session: AsyncSession, aggregate_type: str, aggregate_id: str) -> int:
    """The stream's last sequence (0 when it has no events)."""
    found = await session.scalar(
        select(func.max(StoredEvent.sequence_number)).where(
            StoredEvent.aggregate_type == aggregate_type,
            StoredEvent.aggregate_id == aggregate_id,
        )
    )
    return int(found or 0)


async def load(
    session: AsyncSession,
    aggregate_cls: Callable[[], A],
    aggregate_type: str,
    aggregate_id: str,
    *,
    at: datetime | None = None,
    from_snapshot: bool = True,
) -> tuple[A, int]:
    """The aggregate rebuilt from its events, and the sequence of the last one applied.

    It starts from the newest snapshot and applies the events after it. With `at`, it is
    the aggregate as it was then: only events that occurred at or before `at` count, and only
    a snapshot whose last event did. (This assumes `occurred_at` does not go back along a
    stream, which holds when writers stamp events as they append them.) `from_snapshot=False`
    replays every event, for checks and benchmarks. A stream with no events gives a fresh
    aggregate and 0, the `expected_sequence` for creating it.

    One statement reads the snapshot and the events after it (so both come from one view of
    the database), in the session's transaction if it has begun one, else on a pooled
    connection with no transaction at all (`read_all`).
    """
    aggregate = aggregate_cls()
    sequence = 0
    statement, time_args = (_LOAD, ()) if at is None else (_LOAD_AT, (at,))
    rows = await read_all(
        session, statement, aggregate_type, aggregate_id, from_snapshot, *time_args
    )
    for row in rows:
        sequence = row["sequence_number"]
        if row["event_id"] is None:  # the snapshot, first if any
            aggregate.restore(row["state"])
        else:
            aggregate.apply(stored_envelope(aggregate_type, aggregate_id, row))
    return aggregate, sequence


def _load_statement(snapshot_at: str, event_at: str) -> str:
    """The newest snapshot of stream `$1, $2` (unless `$3` is false) as a first row with a
    `state`, then every event after it in order; `snapshot_at` and `event_at` narrow both to
    a point in time."""
    return f"""
WITH snapshot AS (
    SELECT s.sequence_number, s.state FROM events.snapshots s
    WHERE s.aggregate_type = $1::text AND s.aggregate_id = $2::text AND $3::boolean{snapshot_at}
    ORDER BY s.sequence_number DESC
    LIMIT 1
)
SELECT sequence_number, state, NULL::uuid AS event_id, NULL::text AS type,
    NULL::int AS version, NULL::jsonb AS payload, NULL::text AS trace_id,
    NULL::timestamptz AS occurred_at
FROM snapshot
UNION ALL
SELECT sequence_number, NULL, event_id, type, version, payload, trace_id, occurred_at
FROM events.stored_events
WHERE aggregate_type = $1::text AND aggregate_id = $2::text
    AND sequence_number > coalesce((SELECT sequence_number FROM snapshot), 0){event_at}
ORDER BY sequence_number"""


_LOAD = _load_statement("", "")
_LOAD_AT = _load_statement(
    """
        AND EXISTS (SELECT FROM events.stored_events e
            WHERE e.aggregate_type = s.aggregate_type AND e.aggregate_id = s.aggregate_id
              AND e.sequence_number = s.sequence_number AND e.occurred_at <= $4::timestamptz)""",
    "\n    AND occurred_at <= $4::timestamptz",
)


ENVELOPE_COLUMNS = (
    StoredEvent.event_id,
    StoredEvent.type,
    StoredEvent.version,
    StoredEvent.payload,
    StoredEvent.trace_id,
    StoredEvent.occurred_at,
)
"""The columns a stored event's envelope is read from (with its aggregate's type and id)."""


class Fields(Protocol):
    """A row read by column name (an asyncpg record, a SQLAlchemy row's `_mapping`)."""

    def __getitem__(self, name: str, /) -> Any: ...


def stored_envelope(aggregate_type: str, aggregate_id: str, row: Fields) -> Envelope:
    """A stored row as an envelope, unvalidated: it was validated when it was appended."""
    return Envelope.model_construct(
        event_id=row["event_id"],
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        type=row["type"],
        version=row["version"],
        payload=row["payload"],
        trace_id=row["trace_id"],
        request_id=None,
        occurred_at=row["occurred_at"],
    )
