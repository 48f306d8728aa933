"""A room's timer moves on at the end of its phase with no client connected and no request
made: the phase-end job, relayed by a real `ensemble scheduler` and run by a real
`ensemble worker`, writes the next phase and closes the work phase's focus sessions.

The room's work phase is 1 minute long (the shortest the API allows); rather than wait for
it, the test moves the running timer's instants (and its pending jobs) back so the phase
ends 2 seconds later, then polls the database with a deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ensemble.apps.focus.domain import Phase, TimerState
from ensemble.apps.focus.models import FocusSession, Timer
from ensemble.settings import Settings
from tests.apps.focus.conftest import FocusWorld
from tests.apps.focus.roomkit import drive, go_back, join, open_room
from tests.polling import eventually
from tests.processes import Fleet, fleet, roles_env

LEFT = timedelta(seconds=2)
"""How long the work phase has left once moved on."""
DEADLINE_S = 60.0
"""Room enough for the processes to start on a busy machine."""


@pytest.fixture
def worker_and_scheduler(settings: Settings, tmp_path: Path) -> Iterator[Fleet]:
    """The roles that run the phase-end job: the sweep (the backstop when a job is lost)
    left out of the way, so it is the job that moves the timer."""
    env = roles_env(settings, tmp_path, FOCUS_SWEEP_SECONDS="3600")
    with fleet(env, tmp_path, roles=("worker", "scheduler")) as crew:
        yield crew


@dataclass(frozen=True)
class Seen:
    timer: Timer
    sessions: list[FocusSession]


async def seen(focus: FocusWorld, room_id: uuid.UUID, work_started: datetime) -> Seen:
    async with focus.database.sessionmaker() as session:
        timer = await session.get(Timer, room_id)
        assert timer is not None
        sessions = await session.scalars(
            select(FocusSession).where(
                FocusSession.room_id == room_id, FocusSession.started_at == work_started
            )
        )
        return Seen(timer, list(sessions))


def moved_on(found: Seen) -> bool:
    return found.timer.phase is not Phase.WORK and all(s.ended_at for s in found.sessions)


async def test_the_phase_ends_with_nobody_connected(
    focus: FocusWorld, worker_and_scheduler: Fleet
) -> None:
    owner, member = await focus.user(), await focus.user()
    room = await open_room(focus, owner, work_minutes=1, break_minutes=1)
    assert (await join(focus, room["room_id"], member)).status_code == 200
    started = await drive(focus, room["room_id"], owner, "start")
    assert started.status_code == 200, started.text
    await go_back(focus, room["room_id"], timedelta(minutes=1) - LEFT)

    room_id = uuid.UUID(room["room_id"])
    async with focus.database.sessionmaker() as session:
        work = await session.get(Timer, room_id)
    assert work is not None
    assert work.phase_started_at is not None
    work_started = work.phase_started_at
    before = await seen(focus, room_id, work_started)
    assert (before.timer.phase, len(before.sessions)) == (Phase.WORK, 2)

    after = await eventually(
        lambda: seen(focus, room_id, work_started),
        moved_on,
        timeout=DEADLINE_S,
        interval=0.2,
    )
    timer = after.timer
    assert (timer.state, timer.phase, timer.completed_work_phases) == (
        TimerState.RUNNING,  # breaks start on their own by default
        Phase.SHORT_BREAK,
        1,
    )
    assert timer.version == work.version + 1
    assert timer.phase_started_at == work.phase_ends_at
    assert {s.user_id for s in after.sessions} == {owner.user_id, member.user_id}
    assert all(s.ended_at == work.phase_ends_at for s in after.sessions)
    processes = worker_and_scheduler.processes.values()
    assert all(process.poll() is None for process in processes)
