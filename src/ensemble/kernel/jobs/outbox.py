"""Requesting a job inside a transaction, and the relay that sends committed requests.

`request_job` (what `Job.enqueue` calls) only writes a row: nothing reaches the broker before
the business transaction commits, and nothing is lost if the process dies right after. The
relay sends due rows (`run_at` within a short horizon) and marks them; several relays may run
at once (rows are claimed with `FOR UPDATE SKIP LOCKED`). A commit wakes the relay through
LISTEN/NOTIFY, and it also polls, so a missed notification only costs one interval.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import Database, new_id, utcnow
from ensemble.kernel.db.raw import asyncpg_dsn, transaction_connection
from ensemble.kernel.jobs.models import SCHEMA, OutboxJob, TaskFailure
from ensemble.kernel.observability.context import current_request_context

if TYPE_CHECKING:  # the runtime's jobs request jobs through this module
    from ensemble.kernel.jobs.runtime import JobRuntime

logger = logging.getLogger(__name__)

CHANNEL = "jobs_outbox"
HORIZON = timedelta(seconds=5)  # rows due later stay in the database, the truth for due work
BATCH = 200


_TABLE = f"{SCHEMA}.{OutboxJob.__tablename__}"
_INSERT = f"""
INSERT INTO {_TABLE} (id, job, kwargs, run_at, trace_id, request_id, created_at)
VALUES ($1, $2, $3::text::jsonb, $4, $5, $6, $7)
"""
_INSERT_AND_WAKE = f"""
WITH written AS ({_INSERT} RETURNING 1)
SELECT pg_notify('{CHANNEL}', '') FROM written
"""
"""The row and the relay's wake-up (`pg_notify`, delivered at commit) in one statement."""


async def request_job(
    session: AsyncSession,
    name: str,
    kwargs: dict[str, Any],
    *,
    run_at: datetime | None = None,
    trace_id: str | None = None,
) -> None:
    """Request job `name` with `kwargs` (checked JSON: `Job.enqueue`, or a dead job's stored
    ones) at `run_at` (default now) as part of the session's transaction, under `trace_id`
    if given (else the current request's).

    Only work due now wakes the relay at commit: PostgreSQL serialises the commits of
    notifying transactions, so jobs for later just wait for the relay's next poll.
    """
    context = current_request_context()
    now = utcnow()
    due = run_at or now
    statement = _INSERT_AND_WAKE if due <= now + HORIZON else _INSERT
    raw = await transaction_connection(session)  # plain SQL: no ORM flush, no compilation
    await raw.execute(
        statement, new_id(), name, json.dumps(kwargs), due, trace_id or context.trace_id,
        context.request_id, now,
    )  # fmt: skip


async def dispatch_due(database: Database, runtime: JobRuntime) -> int:
    """Send every committed request due within the horizon; returns how many were sent."""
    async with database.unit_of_work() as session:
        rows = (
            (
                await session.execute(
                    select(OutboxJob)
                    .where(
                        OutboxJob.dispatched_at.is_(None),
                        OutboxJob.run_at <= func.now() + HORIZON,
                    )
                    .order_by(OutboxJob.run_at)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        now = utcnow()
        for row in rows:
            if row.job in runtime.actors:
                _send(runtime, row, now)
            else:
                _record_unknown(session, row)
            row.dispatched_at = now
    return len(rows)


def _record_unknown(session: AsyncSession, row: OutboxJob) -> None:
    """A job this process does not know (renamed, or a version skew): recorded, not lost."""
    logger.error("outbox row %s names unknown job %s", row.id, row.job)
    session.add(
        TaskFailure(
            job=row.job,
            message_id=f"outbox:{row.id}",
            kwargs=row.kwargs,
            attempts=0,
            error_type="UnknownJob",
            error=f"no job named {row.job!r} in the relay's process",
            trace_id=row.trace_id,
        )
    )


def _send(runtime: JobRuntime, row: OutboxJob, now: datetime) -> None:
    runtime.send(
        row.job,
        row.kwargs,
        delay=row.run_at - now,
        trace_id=row.trace_id,
        request_id=row.request_id,
    )


async def run_relay(
    database: Database, runtime: JobRuntime, stop: asyncio.Event, interval: float
) -> None:
    """Dispatch due rows until `stop` is set: at once on NOTIFY, else every `interval`."""
    wake = asyncio.Event()
    listener = await asyncpg.connect(asyncpg_dsn(database.url))
    await listener.add_listener(CHANNEL, lambda *_: wake.set())
    try:
        while not stop.is_set():
            wake.clear()
            try:
                while await dispatch_due(database, runtime) == BATCH:
                    pass
            except Exception:
                logger.exception("outbox relay pass failed; retrying")
            waiters = [asyncio.ensure_future(e.wait()) for e in (wake, stop)]
            await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
    finally:
        await listener.close()
