"""What an app hands to the kernel: its name, routers, background jobs and admin commands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import typer
from fastapi import APIRouter

from ensemble.kernel.jobs.definition import Job
from ensemble.kernel.jobs.maintenance import KERNEL_JOBS


@dataclass(frozen=True)
class AppModule:
    name: str
    title: str
    description: str
    routers: Sequence[APIRouter]
    cli: typer.Typer | None = None
    jobs: Sequence[Job] = field(default_factory=tuple)
    tags: Sequence[dict[str, str]] = field(default_factory=tuple)


def jobs_of(modules: Sequence[AppModule]) -> list[Job]:
    """Every job a worker or scheduler serving `modules` must know: the kernel's and theirs."""
    return [*KERNEL_JOBS, *(job for module in modules for job in module.jobs)]
