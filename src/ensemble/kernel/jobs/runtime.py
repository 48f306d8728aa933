"""The jobs of one process: the broker, one dramatiq actor per job, and how a job runs.

A job runs on the worker's event loop with its own session (committed on success), under
the trace and request ids of whoever asked for it (with tracing on, in a span of that
trace). When it fails for good — a business error, or a transient one past its retries —
the failure is written to `jobs.task_failure_log` and dramatiq moves the message to its
dead-letter queue.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram

from ensemble.kernel.db import Database
from ensemble.kernel.errors import AppError
from ensemble.kernel.jobs.broker import build_broker
from ensemble.kernel.jobs.definition import Job
from ensemble.kernel.jobs.models import TaskFailure
from ensemble.kernel.observability.context import RequestContext, bind_request_context
from ensemble.kernel.observability.tracing import span
from ensemble.kernel.redis import process_redis
from ensemble.kernel.resources import AppResources, Opened, Process, bind, open_resources
from ensemble.settings import Settings

logger = logging.getLogger(__name__)

JOB_RUNS = Counter("jobs_runs_total", "Job executions", ["job", "outcome"])
JOB_SECONDS = Histogram("jobs_duration_seconds", "Job execution time", ["job"])


@dataclass
class JobRuntime:
    settings: Settings
    broker: dramatiq.Broker
    jobs: dict[str, Job]
    actors: dict[str, dramatiq.Actor[Any, Any]] = field(default_factory=dict)
    resources: Opened = field(init=False)
    """What every job runs with: the process (and the apps' resources the worker opens,
    `open_resources`)."""
    _database: Database | None = None
    _opened: AsyncExitStack = field(default_factory=AsyncExitStack)

    def __post_init__(self) -> None:
        self.resources = Opened(Process(self.settings), {})

    @property
    def database(self) -> Database:
        """The jobs' database, created on first use inside the worker's event loop."""
        if self._database is None:
            assert self.settings.database_url is not None
            self._database = Database(self.settings.database_url, pool_size=10)
        return self._database

    async def open_resources(self, every: Sequence[AppResources[Any, Any]]) -> None:
        """Open the apps' resources on the jobs' event loop, over one Redis pool (closed by
        `close`)."""
        url = self.settings.redis_url
        redis = process_redis(url, self.settings) if url else None
        if redis is not None:
            self._opened.push_async_callback(redis.aclose)
        self.resources = await self._opened.enter_async_context(
            open_resources(every, Process(self.settings, redis))
        )

    def declare(self) -> None:
        for job in self.jobs.values():
            declare = dramatiq.actor(
                actor_name=job.name,
                queue_name=job.queue,
                broker=self.broker,
                max_retries=job.retry.max_retries,
                min_backoff=job.retry.min_backoff_ms,
                max_backoff=job.retry.max_backoff_ms,
                retry_when=job.retry.should_retry,
                throws=(AppError,),
                time_limit=job.time_limit_ms,
            )
            self.actors[job.name] = declare(self._executor(job))

    def send(
        self,
        job_name: str,
        kwargs: dict[str, Any],
        *,
        delay: timedelta | None = None,
        trace_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """Hand a message to the broker (the outbox relay and the scheduler call this)."""
        actor = self.actors[job_name]
        delay_ms = max(0, int(delay.total_seconds() * 1000)) if delay else None
        actor.send_with_options(
            kwargs=kwargs, delay=delay_ms or None, trace_id=trace_id, request_id=request_id
        )

    def _executor(self, job: Job) -> Any:
        async def execute(**kwargs: Any) -> None:
            message = CurrentMessage.get_current_message()
            options = message.options if message else {}
            context = RequestContext(request_id=options.get("request_id"), app="jobs")
            context.trace_id = options.get("trace_id") or context.trace_id
            bind_request_context(context)
            attributes: dict[str, Any] = {
                "messaging.system": "dramatiq",
                "messaging.destination.name": job.queue,
                "messaging.message.id": message.message_id if message else "direct",
                "job.attempt": int(options.get("retries", 0)) + 1,
            }
            with (
                span(f"job {job.name}", kind=SpanKind.CONSUMER, **attributes),
                JOB_SECONDS.labels(job.name).time(),
            ):
                try:
                    with bind(self.resources):
                        async with self.database.unit_of_work() as session:
                            await job.function(session, **kwargs)
                except Exception as exc:
                    retries = int(options.get("retries", 0))
                    final = not job.retry.should_retry(retries, exc)
                    JOB_RUNS.labels(job.name, "failed" if final else "retry").inc()
                    if final:
                        await self._record_failure(job, message, kwargs, retries + 1, exc)
                    raise
            JOB_RUNS.labels(job.name, "ok").inc()

        execute.__name__ = job.name.replace(".", "_")
        return execute

    async def _record_failure(
        self, job: Job, message: Any, kwargs: dict[str, Any], attempts: int, exc: Exception
    ) -> None:
        logger.error("job %s failed for good after %s attempt(s)", job.name, attempts)
        async with self.database.unit_of_work() as session:
            session.add(
                TaskFailure(
                    job=job.name,
                    message_id=message.message_id if message else "direct",
                    kwargs=kwargs,
                    attempts=attempts,
                    error_type=type(exc).__name__,
                    error=str(exc)[:4000],
                    traceback="".join(traceback.format_exception(exc))[-8000:],
                    trace_id=message.options.get("trace_id") if message else None,
                )
            )

    async def close(self) -> None:
        await self._opened.aclose()
        if self._database is not None:
            await self._database.dispose()
            self._database = None


def configure_jobs(
    settings: Settings, jobs: Iterable[Job], *, broker_url: str | None = None
) -> JobRuntime:
    """Build the broker for `settings` and declare every job as an actor on it."""
    url = broker_url or settings.jobs_broker_url or settings.redis_url
    if not url:
        raise RuntimeError("no job broker: set JOBS_BROKER_URL or REDIS_URL")
    broker = build_broker(url, settings)
    dramatiq.set_broker(broker)
    runtime = JobRuntime(settings=settings, broker=broker, jobs={j.name: j for j in jobs})
    runtime.declare()
    return runtime
