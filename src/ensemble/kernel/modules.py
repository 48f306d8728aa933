"""What an app hands to the kernel: its name, routers, background jobs, event consumers,
read-model projections, admin commands, and its settings and resources."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import typer
from fastapi import APIRouter

from ensemble.kernel.direct import DirectRoute
from ensemble.kernel.events.consumer import Consumer
from ensemble.kernel.events.projection import Projection
from ensemble.kernel.jobs.definition import Job
from ensemble.kernel.jobs.maintenance import KERNEL_JOBS
from ensemble.kernel.resources import AppResources


@dataclass(frozen=True)
class AppModule:
    name: str
    title: str
    description: str
    routers: Sequence[APIRouter]
    cli: typer.Typer | None = None
    jobs: Sequence[Job] = field(default_factory=tuple)
    consumers: Sequence[Consumer] = field(default_factory=tuple)
    projections: Sequence[Projection] = field(default_factory=tuple)
    tags: Sequence[dict[str, str]] = field(default_factory=tuple)
    warm_up: Sequence[Callable[[], object]] = field(default_factory=tuple)
    """What to load at a process's start rather than on its first request or job."""
    resources: AppResources[Any, Any] | None = None
    direct_routes: Sequence[DirectRoute] = field(default_factory=tuple)
    """Routes served before FastAPI routes the request (`kernel.direct`)."""
    schemas: Sequence[str] = field(default_factory=tuple)
    """The PostgreSQL schemas holding the app's tables (and no other app's)."""
    reference_tables: Sequence[str] = field(default_factory=tuple)
    """`schema.table`s its migrations fill with shipped data (kept when tests empty the rest)."""
    """The app's settings and what it opens once per process (see `kernel.resources`)."""


def jobs_of(modules: Sequence[AppModule]) -> list[Job]:
    """Every job a worker or scheduler serving `modules` must know: the kernel's and theirs."""
    return [*KERNEL_JOBS, *(job for module in modules for job in module.jobs)]


def consumers_of(modules: Sequence[AppModule]) -> list[Consumer]:
    """Every event consumer of `modules` (projections are added by the consuming process,
    which owns the Redis client they write to)."""
    return [each for module in modules for each in module.consumers]


def warmers_of(modules: Sequence[AppModule]) -> list[Callable[[], object]]:
    return [each for module in modules for each in module.warm_up]


def resources_of(modules: Sequence[AppModule]) -> list[AppResources[Any, Any]]:
    return [module.resources for module in modules if module.resources is not None]


def projections_of(modules: Sequence[AppModule]) -> list[Projection]:
    return [each for module in modules for each in module.projections]
