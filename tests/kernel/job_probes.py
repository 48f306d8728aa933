"""Jobs used by the job-queue tests; importable by worker subprocesses too.

Each writes what happened into `public.job_probe`, which the tests read back.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.errors import Conflict
from ensemble.kernel.jobs import Job, RetryPolicy, job
from ensemble.kernel.observability.context import current_request_context

FAST_RETRY = RetryPolicy(max_retries=2, min_backoff_ms=10, max_backoff_ms=50)
PROBE_TABLE = """
CREATE TABLE IF NOT EXISTS public.job_probe (
    key text NOT NULL, event text NOT NULL, trace_id text, at timestamptz NOT NULL DEFAULT now()
)
"""


async def _note(session: AsyncSession, key: str, event: str) -> None:
    await session.execute(
        text("INSERT INTO public.job_probe (key, event, trace_id) VALUES (:k, :e, :t)"),
        {"k": key, "e": event, "t": current_request_context().trace_id},
    )


async def _attempts(key: str, session: AsyncSession) -> int:
    """Attempts are counted outside the job's transaction so a failed attempt still counts."""
    async with session.bind.connect() as conn:  # type: ignore[union-attr]
        await conn.execute(
            text("INSERT INTO public.job_probe (key, event) VALUES (:k, 'attempt')"), {"k": key}
        )
        await conn.commit()
        result = await conn.execute(
            text("SELECT count(*) FROM public.job_probe WHERE key = :k AND event = 'attempt'"),
            {"k": key},
        )
        return int(result.scalar_one())


@job("probe.record", retry=FAST_RETRY)
async def record(session: AsyncSession, *, key: str) -> None:
    await _note(session, key, "done")


@job("probe.flaky", retry=FAST_RETRY)
async def flaky(session: AsyncSession, *, key: str, failures: int) -> None:
    if await _attempts(key, session) <= failures:
        raise RuntimeError(f"transient failure of {key}")
    await _note(session, key, "done")


@job("probe.business", retry=FAST_RETRY)
async def business(session: AsyncSession, *, key: str) -> None:
    await _attempts(key, session)
    raise Conflict("not allowed", code="probe_refused")


@job("probe.slow", retry=FAST_RETRY)
async def slow(session: AsyncSession, *, key: str, seconds: float) -> None:
    """Simulates long work; finishing is idempotent (one 'done' per key)."""
    await _attempts(key, session)
    await asyncio.sleep(seconds)
    await session.execute(
        text(
            "INSERT INTO public.job_probe (key, event) SELECT :k, 'done' WHERE NOT EXISTS "
            "(SELECT 1 FROM public.job_probe WHERE key = :k AND event = 'done')"
        ),
        {"k": key},
    )


@job("probe.tick", every=timedelta(milliseconds=200))
async def tick(session: AsyncSession) -> None:
    await _note(session, "tick", "done")


ALL: list[Job] = [record, flaky, business, slow, tick]
