"""The kernel's own periodic jobs."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.events.retention import EVENT_RETENTION_JOBS, EVERY, deleted
from ensemble.kernel.identity.throttle import prune_throttle_counters
from ensemble.kernel.jobs.definition import job
from ensemble.kernel.jobs.models import OutboxJob, TaskFailure
from ensemble.kernel.resources import current_process

logger = logging.getLogger(__name__)


@job("jobs.prune_outbox", every=EVERY)
async def prune_outbox(session: AsyncSession) -> None:
    """Forget job outbox rows relayed, and dead jobs re-driven, more than
    `JOBS_RETENTION_HOURS` ago (kept that long for inspection)."""
    cutoff = func.now() - timedelta(hours=current_process().settings.jobs_retention_hours)
    relayed = await deleted(session, delete(OutboxJob).where(OutboxJob.dispatched_at < cutoff))
    redriven = await deleted(
        session, delete(TaskFailure).where(TaskFailure.reprocessed_at < cutoff)
    )
    logger.info("pruned %s relayed job rows, %s re-driven dead jobs", relayed, redriven)


KERNEL_JOBS = (prune_outbox, prune_throttle_counters, *EVENT_RETENTION_JOBS)
