"""The kernel's own periodic jobs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.identity.throttle import prune_throttle_counters
from ensemble.kernel.jobs.definition import job
from ensemble.kernel.jobs.models import OutboxJob

KEEP_DISPATCHED = timedelta(days=7)


@job("jobs.prune_outbox", every=timedelta(hours=1))
async def prune_outbox(session: AsyncSession) -> None:
    """Forget outbox rows relayed more than a week ago (kept that long for inspection)."""
    await session.execute(
        delete(OutboxJob).where(OutboxJob.dispatched_at < func.now() - KEEP_DISPATCHED)
    )


KERNEL_JOBS = (prune_outbox, prune_throttle_counters)
