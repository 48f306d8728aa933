"""What a job is: an async function taking its own session, plus a retry policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.errors import AppError

JobFunction = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient errors; business errors never retry."""

    max_retries: int = 5
    min_backoff_ms: int = 500
    max_backoff_ms: int = 60_000

    def should_retry(self, retries_so_far: int, error: BaseException) -> bool:
        return not isinstance(error, AppError) and retries_so_far < self.max_retries


@dataclass(frozen=True)
class Job:
    """A background job. `function(session, **kwargs)` runs in its own transaction, committed
    when it returns and rolled back when it raises. Jobs must be idempotent: delivery is at
    least once (redelivery after a worker dies, a re-sent outbox row, a sweep)."""

    name: str
    function: JobFunction
    queue: str = "default"
    retry: RetryPolicy = RetryPolicy()
    every: timedelta | None = None
    time_limit_ms: int = 5 * 60_000

    async def run(self, session: AsyncSession, **kwargs: Any) -> None:
        """Run the job body directly (tests, sweeps) inside the caller's session."""
        await self.function(session, **kwargs)


def job(
    name: str,
    *,
    queue: str = "default",
    retry: RetryPolicy = RetryPolicy(),
    every: timedelta | None = None,
    time_limit: timedelta = timedelta(minutes=5),
) -> Callable[[JobFunction], Job]:
    """Declare a job; `every=` makes it periodic (run by the scheduler, no arguments)."""

    def declare(function: JobFunction) -> Job:
        return Job(
            name=name,
            function=function,
            queue=queue,
            retry=retry,
            every=every,
            time_limit_ms=int(time_limit.total_seconds() * 1000),
        )

    return declare
