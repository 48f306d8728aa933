"""Focus Mate's settings (`FOCUS_*` in the environment or `.env`) and what a process opens for
it once: a publisher on the process's Redis, for jobs that tell rooms about timer changes,
and the process's part of room presence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ensemble.apps.focus.live.presence import Presence, Timing
from ensemble.kernel.realtime import Publisher
from ensemble.kernel.resources import AppResources, Process


class FocusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOCUS_", env_file=".env", extra="ignore")

    empty_room_pause_minutes: float = Field(
        default=10, gt=0, description="an empty room's running timer pauses after this long"
    )
    archive_after_days: float = Field(
        default=30, gt=0, description="a room idle this long is archived"
    )
    reconnect_grace_seconds: float = Field(
        default=30,
        ge=0,
        description="a socket back within this long after a drop makes no leave and join",
    )
    ending_soon_seconds: float = Field(
        default=5, ge=0, description="`phase_ending_soon` goes out this long before a phase ends"
    )
    presence_coalesce_ms: int = Field(
        default=250, ge=0, description="at most one presence diff per room in this window"
    )
    sweep_seconds: float = Field(
        default=30, gt=0, description="how often the sweep advances timers whose job was lost"
    )


@dataclass(frozen=True)
class FocusResources:
    settings: FocusSettings
    publisher: Publisher | None
    """On the process's Redis (None in a process without one: notices are dropped)."""
    presence: Presence | None = None
    """Room presence (None without Redis); its loop runs once the process has a room socket."""


def presence_timing(settings: FocusSettings, process: Process) -> Timing:
    """A socket's lease lasts as long as the hub waits for a silent socket."""
    beat = process.settings.realtime_heartbeat_seconds
    return Timing(
        grace_ms=round(settings.reconnect_grace_seconds * 1000),
        coalesce_ms=settings.presence_coalesce_ms,
        lease_ms=round((beat + process.settings.realtime_heartbeat_timeout_seconds) * 1000),
        renew_ms=round(beat * 500),
    )


@asynccontextmanager
async def _open(process: Process, settings: FocusSettings) -> AsyncIterator[FocusResources]:
    publisher = process.publisher()
    presence = None
    if process.redis is not None and publisher is not None:
        presence = Presence(process.redis, publisher, presence_timing(settings, process))
    try:
        yield FocusResources(settings, publisher, presence)
    finally:
        if presence is not None:
            await presence.close()


FOCUS = AppResources("focus", FocusSettings, _open)
FocusDep = Annotated[FocusResources, Depends(FOCUS.dependency)]
