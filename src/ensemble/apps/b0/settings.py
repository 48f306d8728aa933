"""B0's settings (`B0_*` in the environment or `.env`) and what a process opens for it once:
the provider's token verifier (with its JWKS cache) and a publisher on the process's Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ensemble.kernel.identity.external import ExternalTokenVerifier
from ensemble.kernel.realtime import Publisher
from ensemble.kernel.resources import AppResources, Process


class B0Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="B0_", env_file=".env", extra="ignore")

    timezone: str = Field(default="Asia/Seoul", description="the diary's day boundary")
    max_active_trips: int | None = Field(
        default=1, description="boarding tickets + stays a B0 user may have at once (None: any)"
    )
    flight_time_scale: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="every B0 flight takes this share of its time (0.01: a one-hour flight"
        " lands in 36 s), to try arrival, check-in and room chat in minutes",
    )


@dataclass(frozen=True)
class B0Resources:
    settings: B0Settings
    verifier: ExternalTokenVerifier
    publisher: Publisher | None
    """On the process's Redis (None in a process without one: room notices are dropped)."""


@asynccontextmanager
async def _open(process: Process, settings: B0Settings) -> AsyncIterator[B0Resources]:
    verifier = ExternalTokenVerifier.from_settings(process.settings)
    yield B0Resources(settings, verifier, process.publisher())


B0 = AppResources("b0", B0Settings, _open)
B0Dep = Annotated[B0Resources, Depends(B0.dependency)]
