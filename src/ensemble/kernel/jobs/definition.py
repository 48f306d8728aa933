"""What a job is: an async function taking its own session, plus a retry policy.

A job's parameters are the keyword-only parameters of its function after the session,
typed with JSON values (`str`, `int`, `float`, `bool`, `None`, lists and dicts of them).
`await some_job.enqueue(session, ticket_id=...)` is checked twice: by mypy against the
function's signature, and at the call against its annotations (strictly: a UUID is not a
`str`), so a missing, unknown or mistyped parameter raises `TypeError` in the request that
asks for the job, never later in a worker.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Concatenate, Generic, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import ParamSpec

from ensemble.kernel.errors import AppError
from ensemble.kernel.jobs.outbox import request_job

P = ParamSpec("P", default=...)
"""A job's parameters (a bare `Job` takes any)."""
Params = ParamSpec("Params")
"""The parameters of a function `@job` declares."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient errors; business errors never retry."""

    max_retries: int = 5
    min_backoff_ms: int = 500
    max_backoff_ms: int = 60_000

    def should_retry(self, retries_so_far: int, error: BaseException) -> bool:
        return not isinstance(error, AppError) and retries_so_far < self.max_retries


Period = timedelta | Callable[[], timedelta]
"""A periodic job's interval: fixed, or read when the scheduler next sends it (from an
app's settings, say)."""


@dataclass(frozen=True)
class Job(Generic[P]):
    """A background job. `function(session, **kwargs)` runs in its own transaction, committed
    when it returns and rolled back when it raises. Jobs must be idempotent: delivery is at
    least once (redelivery after a worker dies, a re-sent outbox row, a sweep)."""

    name: str
    function: Callable[Concatenate[AsyncSession, P], Awaitable[None]]
    queue: str = "default"
    retry: RetryPolicy = RetryPolicy()
    every: Period | None = None
    time_limit_ms: int = 5 * 60_000

    def period(self) -> timedelta | None:
        """How long after one run of a periodic job the scheduler sends the next (`every`,
        or what it answers now when it is a function of the settings)."""
        return self.every() if callable(self.every) else self.every

    async def enqueue(self, session: AsyncSession, /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Request the job now, as part of the session's transaction (`outbox.request_job`)."""
        await request_job(session, self.name, self.params(*args, **kwargs))

    async def enqueue_at(
        self, session: AsyncSession, run_at: datetime, /, *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """Request the job for `run_at`, as part of the session's transaction."""
        await request_job(session, self.name, self.params(*args, **kwargs), run_at=run_at)

    def params(self, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        """The parameters as the outbox stores them (JSON), checked against the function's
        signature and annotations; `TypeError` names what is wrong."""
        try:
            arguments = self._signature.bind(None, *args, **kwargs).arguments
            checked = self._params.model_validate(dict(list(arguments.items())[1:]))
        except (TypeError, ValidationError) as error:
            raise TypeError(f"job {self.name!r}: {error}") from error
        return checked.model_dump(mode="json", exclude_unset=True)

    async def run(self, session: AsyncSession, /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Run the job body directly (tests, sweeps) inside the caller's session."""
        await self.function(session, *args, **kwargs)

    @cached_property
    def _signature(self) -> inspect.Signature:
        return inspect.signature(self.function)

    @cached_property
    def _params(self) -> type[BaseModel]:
        """The parameters after the session as a strict model (built on first use, when every
        name the annotations use is defined)."""
        hints = get_type_hints(self.function)
        fields: dict[str, Any] = {
            name: (hints[name], ... if parameter.default is parameter.empty else parameter.default)
            for name, parameter in list(self._signature.parameters.items())[1:]
        }
        config = ConfigDict(strict=True, extra="forbid")
        return create_model(f"{self.name} parameters", __config__=config, **fields)


def job(
    name: str,
    *,
    queue: str = "default",
    retry: RetryPolicy = RetryPolicy(),
    every: Period | None = None,
    time_limit: timedelta = timedelta(minutes=5),
) -> Callable[[Callable[Concatenate[AsyncSession, Params], Awaitable[None]]], Job[Params]]:
    """Declare a job; `every=` makes it periodic (run by the scheduler, no arguments): a
    `timedelta`, or a function answering one, asked each time the job is sent."""

    def declare(
        function: Callable[Concatenate[AsyncSession, Params], Awaitable[None]],
    ) -> Job[Params]:
        return Job(
            name=name,
            function=function,
            queue=queue,
            retry=retry,
            every=every,
            time_limit_ms=int(time_limit.total_seconds() * 1000),
        )

    return declare
