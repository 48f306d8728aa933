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

from sqlalchemy import Select, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.errors import Conflict
from ensemble.kernel.events.envelope import Envelope
from ensemble.kernel.events.models import Snapshot, StoredEvent
from ensemble.kernel.events.outbox import publish as publish_to_outbox
from ensemble.kernel.observability.context import current_request_context

SNAPSHOT_EVERY = 100
"""A snapshot is written after every event whose sequence is a multiple of this."""

SEQUENCE_CONSTRAINT = "pk_stored_events"

NewEvent = Envelope | tuple[str, dict[str, Any], int]
"""An event to append: an envelope of this aggregate, or `(type, payload, version)`."""


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
    With `publish`, each event also goes to the outbox (`outbox.publish`) in the same
    transaction, for the relay to send after commit.
    """
    if expected_sequence < 0:
        raise ValueError("expected_sequence must be 0 or more")
    if not events:
        return expected_sequence
    envelopes = [_envelope(aggregate_type, aggregate_id, event) for event in events]
    snapshots = [] if aggregate is None else _apply(aggregate, envelopes, expected_sequence)
    written = await _insert_events(session, envelopes, expected_sequence)
    if written != len(envelopes):
        raise await _conflict(session, aggregate_type, aggregate_id, expected_sequence)
    if snapshots:
        await session.execute(insert(Snapshot), snapshots)
    if publish:
        for envelope in envelopes:
            await publish_to_outbox(session, envelope)
    return expected_sequence + len(envelopes)


def _envelope(aggregate_type: str, aggregate_id: str, event: NewEvent) -> Envelope:
    """The event as an envelope of this aggregate, with the running trace id if it has none."""
    if isinstance(event, Envelope):
        if (event.aggregate_type, event.aggregate_id) != (aggregate_type, aggregate_id):
            raise ValueError(f"{event.aggregate_key} is not {aggregate_type}:{aggregate_id}")
        envelope = event
    else:
        type_, payload, version = event
        envelope = Envelope(
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            type=type_,
            payload=payload,
            version=version,
        )
    if envelope.trace_id is None:
        context = current_request_context()
        envelope = envelope.model_copy(
            update={"trace_id": context.trace_id, "request_id": context.request_id}
        )
    return envelope


_INSERT_EVENTS = f"""
WITH batch AS (
    SELECT * FROM unnest($4::uuid[], $5::text[], $6::int[], $7::text[], $8::text[],
                         $9::timestamptz[])
        WITH ORDINALITY AS e(event_id, type, version, payload, trace_id, occurred_at, n)
), first_row AS (
    INSERT INTO events.stored_events (aggregate_type, aggregate_id, sequence_number,
        event_id, type, version, payload, trace_id, occurred_at)
    SELECT $1::text, $2::text, $3::bigint + n,
        event_id, type, version, payload::jsonb, trace_id, occurred_at
    FROM batch
    WHERE n = 1 AND ($3::bigint = 0 OR EXISTS (
        SELECT FROM events.stored_events
        WHERE aggregate_type = $1::text AND aggregate_id = $2::text
          AND sequence_number = $3::bigint))
    ON CONFLICT ON CONSTRAINT {SEQUENCE_CONSTRAINT} DO NOTHING
    RETURNING 1
), other_rows AS (
    INSERT INTO events.stored_events (aggregate_type, aggregate_id, sequence_number,
        event_id, type, version, payload, trace_id, occurred_at)
    SELECT $1::text, $2::text, $3::bigint + n,
        event_id, type, version, payload::jsonb, trace_id, occurred_at
    FROM batch
    WHERE n > 1 AND EXISTS (SELECT FROM first_row)
    RETURNING 1
)
SELECT (SELECT count(*) FROM first_row) + (SELECT count(*) FROM other_rows)
"""
"""Insert the events numbered `$3 + 1 …` in one round trip, all of them or none.

`first_row` writes event `$3 + 1` only if event `$3` exists (no gap) and nobody holds
`$3 + 1`: `ON CONFLICT … DO NOTHING` waits for a concurrent writer of that number and skips
the row if that one commits, so a lost race raises no error and leaves the transaction
usable. `other_rows` writes the rest only if `first_row` did. Once we hold `$3 + 1`, no other
writer through this store can hold a later number of the batch (its own first row would be
`$3 + 1`, or its head check would need a row we have not committed), so `other_rows` cannot
collide while streams are written only through `append`."""


async def _insert_events(
    session: AsyncSession, envelopes: list[Envelope], expected_sequence: int
) -> int:
    """Write the events after `expected_sequence`; the number written: all, or 0."""
    connection = await session.connection()
    first = envelopes[0]
    result = await connection.exec_driver_sql(
        _INSERT_EVENTS,
        (
            first.aggregate_type,
            first.aggregate_id,
            expected_sequence,
            [envelope.event_id for envelope in envelopes],
            [envelope.type for envelope in envelopes],
            [envelope.version for envelope in envelopes],
            [json.dumps(envelope.payload) for envelope in envelopes],
            [envelope.trace_id for envelope in envelopes],
            [envelope.occurred_at for envelope in envelopes],
        ),
    )
    return int(result.scalar_one())


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
    """
    aggregate = aggregate_cls()
    sequence = 0
    if from_snapshot:
        found = (await session.execute(_snapshot_query(aggregate_type, aggregate_id, at))).first()
        if found is not None:
            sequence, state = found
            aggregate.restore(state)
    rows = await session.execute(_tail_query(aggregate_type, aggregate_id, sequence, at))
    for row in rows:
        aggregate.apply(_stored_envelope(aggregate_type, aggregate_id, row))
        sequence = row.sequence_number
    return aggregate, sequence


def _snapshot_query(
    aggregate_type: str, aggregate_id: str, at: datetime | None
) -> Select[tuple[int, dict[str, Any]]]:
    query = (
        select(Snapshot.sequence_number, Snapshot.state)
        .where(Snapshot.aggregate_type == aggregate_type, Snapshot.aggregate_id == aggregate_id)
        .order_by(Snapshot.sequence_number.desc())
        .limit(1)
    )
    if at is None:
        return query
    return query.join(
        StoredEvent,
        (StoredEvent.aggregate_type == Snapshot.aggregate_type)
        & (StoredEvent.aggregate_id == Snapshot.aggregate_id)
        & (StoredEvent.sequence_number == Snapshot.sequence_number),
    ).where(StoredEvent.occurred_at <= at)


def _tail_query(
    aggregate_type: str, aggregate_id: str, after: int, at: datetime | None
) -> Select[Any]:
    query = (
        select(
            StoredEvent.sequence_number,
            StoredEvent.event_id,
            StoredEvent.type,
            StoredEvent.version,
            StoredEvent.payload,
            StoredEvent.trace_id,
            StoredEvent.occurred_at,
        )
        .where(
            StoredEvent.aggregate_type == aggregate_type,
            StoredEvent.aggregate_id == aggregate_id,
            StoredEvent.sequence_number > after,
        )
        .order_by(StoredEvent.sequence_number)
    )
    return query if at is None else query.where(StoredEvent.occurred_at <= at)


def _stored_envelope(aggregate_type: str, aggregate_id: str, row: Any) -> Envelope:
    """A stored row as an envelope, unvalidated: it was validated when it was appended."""
    return Envelope.model_construct(
        event_id=row.event_id,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        type=row.type,
        version=row.version,
        payload=row.payload,
        trace_id=row.trace_id,
        request_id=None,
        occurred_at=row.occurred_at,
    )
