"""Focus Mate background jobs (the notifications domain keeps its own in `notifications/tasks.py`,
listed here too): each running phase's end and its `phase_ending_soon` notice
(requested at every timer change, for the phase's version), and the sweep, the backstop for
phase-end jobs lost or late, empty rooms and idle ones.

The timer service requests these jobs, so the jobs import it when they run."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.notifications import tasks as notifications
from ensemble.apps.focus.settings import FOCUS, FocusSettings
from ensemble.kernel.db import utcnow
from ensemble.kernel.jobs import RetryPolicy, job

logger = logging.getLogger(__name__)


def sweep_interval() -> timedelta:
    """`FOCUS_SWEEP_SECONDS`, read by the scheduler (which opens no app resources) each time
    it sends the sweep."""
    return timedelta(seconds=FocusSettings().sweep_seconds)


TRANSIENT = RetryPolicy(max_retries=5, min_backoff_ms=100, max_backoff_ms=5_000)


@job("focus.phase_end", retry=TRANSIENT)
async def phase_end(session: AsyncSession, *, room_id: str, version: int) -> None:
    """At a phase's end: the timer moves on and the work phase's sessions are credited (once,
    however often it runs)."""
    from ensemble.apps.focus.timer import service as timer

    await timer.advance(session, FOCUS.current(), uuid.UUID(room_id), utcnow(), version=version)


@job("focus.phase_ending_soon", retry=TRANSIENT)
async def phase_ending_soon(session: AsyncSession, *, room_id: str, version: int) -> None:
    """`phase_ending_soon` to the room, if the timer is still in that phase."""
    from ensemble.apps.focus.timer import service as timer

    await timer.ending_soon(session, FOCUS.current(), uuid.UUID(room_id), version, utcnow())


@job("focus.sweep", every=sweep_interval, retry=TRANSIENT)
async def sweep(session: AsyncSession) -> None:
    """Advance timers whose phase ended without their job, pause empty rooms, archive idle
    ones."""
    from ensemble.apps.focus.timer import service as timer

    report = await timer.sweep(session, FOCUS.current(), utcnow())
    if any(report.values()):
        logger.info("focus sweep: %s", report)


JOBS = (phase_end, phase_ending_soon, sweep, *notifications.JOBS)
