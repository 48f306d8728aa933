"""Timer response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from ensemble.apps.focus.domain import Phase, TimerState
from ensemble.kernel.schemas import ResponseModel


class TimerPublic(ResponseModel):
    """A room's timer at `server_now`. While running, the phase ends at `phase_ends_at`
    (show it as a clock time, and the countdown from it with the clock offset); while paused,
    `paused_remaining_ms` is left of it; idle, neither."""

    room_id: uuid.UUID
    version: int
    state: TimerState
    phase: Phase
    phase_started_at: datetime | None
    phase_ends_at: datetime | None
    paused_remaining_ms: int | None
    completed_work_phases: int
    server_now: datetime


class ServerTime(ResponseModel):
    server_now: datetime
