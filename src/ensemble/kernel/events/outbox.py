"""Publishing an event: a row in the caller's transaction, nothing sent before commit."""

from __future__ import annotations

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.events.envelope import Envelope
from ensemble.kernel.events.models import OutboxEvent
from ensemble.kernel.observability.context import current_request_context

CHANNEL = "events_outbox"


async def publish(session: AsyncSession, envelope: Envelope) -> Envelope:
    """Write `envelope` to the outbox in the session's transaction; returns it as written.

    Missing trace and request ids come from the running request or job. The INSERT runs
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
    await session.execute(insert(OutboxEvent).values(**written.model_dump()))
    await session.execute(text(f"NOTIFY {CHANNEL}"))
    return written
