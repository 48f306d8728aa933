"""An app's background work run in the test's own process, through the kernel's code, until
none is left: every app's tests use it instead of a worker, a relay and a consumer process.

Due rows of the job outbox run as the worker runs them (each job in its own transaction);
the event outbox goes out in relay passes (`relay_once`: its lock, order and marking) and
each event it publishes goes to every consumer that takes it (`ConsumerRunner.attempt`, so
with `processed_events` and dead letters) and to every projection. Jobs and consumers run
with the apps' resources open, as in the worker and the consume process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import ParamSpec, Self

from pydantic_settings import BaseSettings
from redis.asyncio import Redis
from sqlalchemy import func, select

from ensemble.kernel.db import Database, utcnow
from ensemble.kernel.events import Envelope
from ensemble.kernel.events.consumer import Consumer
from ensemble.kernel.events.models import DeadLetter
from ensemble.kernel.events.projection import Projection, apply_live
from ensemble.kernel.events.relay import relay_once
from ensemble.kernel.events.runner import ConsumerRunner
from ensemble.kernel.jobs.definition import Job
from ensemble.kernel.jobs.models import OutboxJob
from ensemble.kernel.modules import AppModule, consumers_of, jobs_of, projections_of, resources_of
from ensemble.kernel.resources import Process, bind, open_resources
from ensemble.settings import Settings

P = ParamSpec("P")


@dataclass
class _Collected:
    """An event bus that keeps what a relay pass appends (delivered after the pass commits)."""

    envelopes: list[Envelope] = field(default_factory=list)

    async def append(self, envelopes: Sequence[Envelope]) -> None:
        self.envelopes.extend(envelopes)

    async def redrive(self, letters: Sequence[DeadLetter]) -> None:
        raise NotImplementedError("the test's outboxes do not re-drive")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


@dataclass
class Outboxes:
    """The background work of `modules`, run in this process (see the module's docstring)."""

    settings: Settings
    database: Database
    redis: Redis
    modules: Sequence[AppModule]
    app_settings: Mapping[str, BaseSettings] = field(default_factory=dict)
    """Apps' settings replacing those of the environment (by app name)."""
    _open: bool = field(default=False, init=False)

    @property
    def jobs(self) -> dict[str, Job[...]]:
        return {each.name: each for each in jobs_of(self.modules)}

    @property
    def consumers(self) -> list[Consumer]:
        return consumers_of(self.modules)

    @property
    def projections(self) -> list[Projection]:
        return projections_of(self.modules)

    @asynccontextmanager
    async def resources(self) -> AsyncIterator[None]:
        """The apps' resources opened (from the environment as it is now) and bound, unless
        they already are (in `settle`)."""
        if self._open:
            yield
            return
        process = Process(self.settings, self.redis)
        every = resources_of(self.modules)
        async with open_resources(every, process, self.app_settings) as opened:
            self._open = True
            try:
                with bind(opened):
                    yield
            finally:
                self._open = False

    async def settle(self) -> int:
        """Run jobs and deliver events until both outboxes are empty; how many in all."""
        done = 0
        async with self.resources():
            while step := await self.run_jobs() + await self._deliver_events():
                done += step
        return done

    async def run(self, job: Job[P], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """The job in its own transaction, as the worker runs it."""
        async with self.resources(), self.database.unit_of_work() as session:
            await job.run(session, *args, **kwargs)

    async def deliver(self, envelope: Envelope) -> None:
        """One event to every consumer and projection that takes it."""
        async with self.resources():
            for each in self.consumers:
                if envelope.aggregate_type in each.aggregate_types and each.handles(envelope):
                    await ConsumerRunner(self.database, self.redis, each).attempt(envelope)
            for projection in self.projections:
                await apply_live(self.redis, projection, envelope)

    async def run_jobs(self, *only: Job[...]) -> int:
        """Run the due jobs (only those of `only`, if given); how many ran."""
        jobs = self.jobs
        names = [each.name for each in only] or list(jobs)
        async with self.database.unit_of_work() as session:
            rows = (
                await session.scalars(
                    select(OutboxJob)
                    .where(
                        OutboxJob.dispatched_at.is_(None),
                        OutboxJob.run_at <= func.now(),
                        OutboxJob.job.in_(names),
                    )
                    .order_by(OutboxJob.run_at)
                )
            ).all()
            due = [(jobs[row.job], dict(row.kwargs)) for row in rows]
            for row in rows:
                row.dispatched_at = utcnow()
        for job, kwargs in due:
            await self.run(job, **kwargs)
        return len(due)

    async def _deliver_events(self) -> int:
        relayed = _Collected()
        while await relay_once(self.database, relayed):
            pass
        for envelope in relayed.envelopes:
            await self.deliver(envelope)
        return len(relayed.envelopes)
