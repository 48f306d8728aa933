"""Publishing an event: a row in the caller's transaction, nothing sent before commit."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.events.envelope import Envelope
from ensemble.kernel.events.models import SCHEMA, OutboxEvent
from ensemble.kernel.observability.context import current_request_context

CHANNEL = "events_outbox"

TABLE = f"{SCHEMA}.{OutboxEvent.__tablename__}"
COLUMNS = (
    "event_id, aggregate_type, aggregate_id, type, version, payload, trace_id, request_id,"
    " occurred_at"
)
"""The columns a publisher writes (the database sets the position `(xid, seq)`)."""

WAKE_RELAY = f"pg_notify('{CHANNEL}', '')"
"""The relay's wake-up: delivered at commit, never after a rollback, and sent once however
many times a transaction asks."""

_PUBLISH = f"""
WITH written AS (
    INSERT INTO {TABLE} ({COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8, $9)
    RETURNING 1
)
SELECT {WAKE_RELAY} FROM written
"""
"""The row and the relay's wake-up in one round trip."""


async def publish(session: AsyncSession, envelope: Envelope) -> Envelope:
    """Write `envelope` to the outbox in the session's transaction; returns it as written.

    Missing trace and request ids come from the running request or job. The row is written
    at once, so events of one transaction keep the order of the calls; the relay sends them
    after commit (a rollback sends nothing), woken by a NOTIFY delivered at commit.
    """
    context = current_request_context()
    written = envelope.model_copy(
        update={
            "trace_id": envelope.trace_id or context.trace_id,
            "request_id": envelope.request_id or context.request_id,
        }
    )
    connection = await transaction_connection(session)
    await connection.execute(
        _PUBLISH,
        written.event_id,
        written.aggregate_type,
        written.aggregate_id,
        written.type,
        written.version,
        json.dumps(written.payload),
        written.trace_id,
        written.request_id,
        written.occurred_at,
    )
    return written
