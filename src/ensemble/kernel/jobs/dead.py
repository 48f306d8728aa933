"""Dead jobs: the jobs that failed for good (`jobs.task_failure_log`), listed and re-driven.

Re-driving requests the job again with its arguments through the job outbox, in the
caller's transaction, under the trace of the run that failed, and marks the failure
`reprocessed_at`: a rollback re-drives nothing, a commit loses nothing. Jobs are idempotent,
so a job re-driven after it was somehow done changes nothing. If it fails for good again, a
new failure is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import utcnow
from ensemble.kernel.jobs.models import TaskFailure
from ensemble.kernel.jobs.outbox import request_job


def pending_dead_jobs(
    job: str | None = None, filter_reason: str | None = None
) -> Select[TaskFailure]:
    """Dead jobs not yet re-driven (of `job`; whose error type or message contains
    `filter_reason`), oldest first."""
    stmt = select(TaskFailure).where(TaskFailure.reprocessed_at.is_(None))
    if job is not None:
        stmt = stmt.where(TaskFailure.job == job)
    if filter_reason is not None:
        stmt = stmt.where(
            or_(
                TaskFailure.error.icontains(filter_reason, autoescape=True),
                TaskFailure.error_type.icontains(filter_reason, autoescape=True),
            )
        )
    return stmt.order_by(TaskFailure.id)


async def dead_jobs_after(
    session: AsyncSession, after: uuid.UUID | None, limit: int, *, job: str | None = None
) -> Sequence[TaskFailure]:
    """Up to `limit` pending dead jobs with ids above `after`, oldest first."""
    stmt = pending_dead_jobs(job).limit(limit)
    if after is not None:
        stmt = stmt.where(TaskFailure.id > after)
    return (await session.execute(stmt)).scalars().all()


async def redrive_jobs(session: AsyncSession, failures: Sequence[TaskFailure]) -> None:
    """Request each dead job again and mark it re-driven, in the session's transaction."""
    for failure in failures:
        await request_job(session, failure.job, failure.kwargs, trace_id=failure.trace_id)
    if failures:
        await session.execute(
            update(TaskFailure)
            .where(TaskFailure.id.in_([failure.id for failure in failures]))
            .values(reprocessed_at=utcnow())
            .execution_options(synchronize_session=False)
        )
