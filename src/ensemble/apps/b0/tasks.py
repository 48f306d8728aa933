"""B0 background jobs: a ticket's arrival (with check-in), and the repairing sweep.

The use cases import the jobs they request (`travel` requests `complete_ticket`), so the
jobs import the use cases when they run, not when this module loads."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.b0.events import room_event
from ensemble.kernel.jobs import RetryPolicy, job

logger = logging.getLogger(__name__)

SWEEP_INTERVAL = timedelta(seconds=15)
TRANSIENT = RetryPolicy(max_retries=5, min_backoff_ms=200, max_backoff_ms=10_000)


@job("b0.complete_ticket", retry=TRANSIENT)
async def complete_ticket(session: AsyncSession, *, ticket_id: str) -> None:
    """At arrival: BOARDING → COMPLETED and check-in, once however often it runs."""
    from ensemble.apps.b0.travel import service as travel

    arrival = await travel.arrive(session, uuid.UUID(ticket_id))
    if arrival.stay is not None:
        logger.info("ticket %s arrived; stay %s", ticket_id, arrival.stay.id)


@job("b0.sweep", every=SWEEP_INTERVAL, retry=TRANSIENT)
async def sweep(session: AsyncSession) -> None:
    """Complete tickets whose arrival passed without completion; check out expired stays."""
    from ensemble.apps.b0.travel import service as travel

    report = await travel.sweep(session)
    if report.arrived or report.checked_out:
        logger.info("sweep: %s arrivals, %s check-outs", report.arrived, report.checked_out)


JOBS = (complete_ticket, sweep, room_event)
