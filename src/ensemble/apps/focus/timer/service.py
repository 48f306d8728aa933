"""The room timer's use cases: commands, reads, the phase ends a job (or the sweep) writes,
and the focus sessions every work phase opens and closes. Never commit.

The row is the truth and is written compare-and-set on `version`. A command decides on the
row caught up to now (`domain.catch_up`, the phases that ended on time, in memory) and
writes the result if the version did not move meanwhile. If it moved, the row is read again:
when the only change was that same catch-up (the phase-end job wrote what the command had
already assumed), the command is decided again; any other change (another command) makes it
`409 timer_invalid_transition` with the state now, because the caller decided on a state
that no longer holds (two racing `skip`s must not skip two phases).

Each change is told to the room's sockets right after its commit (`after_commit`): no job
hop between a command and its message. Losing that message (the process dies between commit
and publish) loses nothing a client cannot re-read: the `seq` gap or a reconnect brings a
snapshot from the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus import domain, tasks
from ensemble.apps.focus.domain import Command, Phase, TimerState
from ensemble.apps.focus.events import (
    AGGREGATE_ROOM,
    FocusSessionEnded,
    tell_room,
    timer_message,
)
from ensemble.apps.focus.models import Room, Timer
from ensemble.apps.focus.rooms import repository as rooms
from ensemble.apps.focus.settings import FocusResources
from ensemble.apps.focus.timer import repository
from ensemble.kernel.db import utcnow
from ensemble.kernel.errors import Conflict
from ensemble.kernel.events import Envelope, publish

ATTEMPTS = 3
"""Compare-and-set attempts when only the clock moved the row meanwhile."""
SWEEP_BATCH = 200
"""Rooms one sweep handles per kind of work (the next sweep takes the rest)."""

KIND = {
    Command.START: "timer_started",
    Command.PAUSE: "timer_paused",
    Command.RESUME: "timer_resumed",
    Command.SKIP: "timer_skipped",
    Command.RESET: "timer_reset",
}
PHASE_CHANGED = "timer_phase_changed"
ENDING_SOON = "phase_ending_soon"
INTERRUPTS = {Command.SKIP: "skipped", Command.RESET: "reset"}
"""Commands that end the current work phase early, and the reason its sessions record."""


class TimerInvalidTransition(Conflict):
    code = "timer_invalid_transition"
    message = "The timer cannot do this in its current state."


def durations_of(room: Room) -> domain.Durations:
    return domain.Durations(
        work_minutes=room.work_minutes,
        break_minutes=room.break_minutes,
        long_break_minutes=room.long_break_minutes,
        long_break_every=room.long_break_every,
        auto_start_breaks=room.auto_start_breaks,
    )


def _state(row: Timer) -> domain.Timer:
    return domain.Timer(
        state=row.state,
        phase=row.phase,
        phase_started_at=row.phase_started_at,
        phase_ends_at=row.phase_ends_at,
        paused_remaining_ms=row.paused_remaining_ms,
        completed_work_phases=row.completed_work_phases,
        version=row.version,
    )


def view(room_id: uuid.UUID, timer: domain.Timer) -> Timer:
    """A timer as the row looks (for `timer_message`), never added to the session."""
    return Timer(room_id=room_id, **asdict(timer))


def message(kind: str, timer: Timer, now: datetime) -> dict[str, Any]:
    """`events.timer_message` as JSON values (instants as the API writes them)."""
    jsonable: dict[str, Any] = to_jsonable_python(timer_message(kind, timer, now))
    return jsonable


async def _stored(session: AsyncSession, room_id: uuid.UUID) -> domain.Timer:
    row = await repository.load(session, room_id)
    assert row is not None, "every room has its timer"
    return _state(row)


# Creation and reads


def create(session: AsyncSession, room: Room) -> None:
    """The idle timer of a new room (flushed with the room)."""
    session.add(view(room.id, domain.Timer()))


async def current(session: AsyncSession, room: Room, now: datetime) -> Timer:
    """The timer at `now`: phases that ended on time are moved on in memory, so a read is
    right even before the phase-end job has run."""
    caught, _ = domain.catch_up(await _stored(session, room.id), now, durations_of(room))
    return view(room.id, caught)


# Commands


async def command(
    session: AsyncSession,
    resources: FocusResources,
    room: Room,
    command: Command,
    now: datetime,
    seen_version: int | None = None,
) -> Timer:
    """Apply `command` to the room's timer at `now` (the caller checked who may drive); 409
    `timer_invalid_transition` with the current state in `details` if it is not allowed, if
    another command changed the timer first, or if the timer is no longer at the
    `seen_version` the client decided on. Its sessions, its next jobs and its message follow.

    It writes the timer row and no room row: a command never waits on the room's lock (so
    never deadlocks with a delete that holds it and waits on the timer)."""
    durations = durations_of(room)
    stored = await _stored(session, room.id)
    if seen_version is not None and stored.version != seen_version:
        caught, _ = domain.catch_up(stored, now, durations)
        raise _invalid(room.id, caught, now, f"the timer moved on from version {seen_version}")
    for _ in range(ATTEMPTS):
        caught, ended = domain.catch_up(stored, now, durations)
        try:
            after = domain.apply(caught, command, now, durations)
        except domain.InvalidTransition as exc:
            raise _invalid(room.id, caught, now, str(exc)) from exc
        if await repository.write(session, room.id, stored.version, after):
            break
        stored = await _stored(session, room.id)
        again, _ = domain.catch_up(stored, now, durations)
        if _moved_by_clock_only(caught, again):
            continue
        raise _invalid(room.id, again, now, "the timer changed meanwhile")
    else:
        raise _invalid(room.id, caught, now, "the timer kept changing")
    await _record(session, room.id, stored, caught, ended, now, reason=None)
    await _record(session, room.id, caught, after, [], now, reason=INTERRUPTS.get(command))
    await _schedule(session, resources, room.id, after)
    announce(session, resources, KIND[command], view(room.id, after))
    return view(room.id, after)


def _moved_by_clock_only(decided_on: domain.Timer, now_stored: domain.Timer) -> bool:
    """Whether the row, caught up, is the state the command was decided on (the phase-end
    job wrote the catch-up the command had made in memory)."""
    return replace(decided_on, version=0) == replace(now_stored, version=0)


def _invalid(
    room_id: uuid.UUID, timer: domain.Timer, now: datetime, why: str
) -> TimerInvalidTransition:
    details = {"timer": message("timer", view(room_id, timer), now), "reason": why}
    return TimerInvalidTransition(details=details)


def announce(session: AsyncSession, resources: FocusResources, kind: str, timer: Timer) -> None:
    """Publish a timer message on the room's channel once the transaction commits (its
    `server_now` read when it goes)."""
    tell_room(session, resources, timer.room_id, lambda: message(kind, timer, utcnow()))


async def _schedule(
    session: AsyncSession, resources: FocusResources, room_id: uuid.UUID, timer: domain.Timer
) -> None:
    """While the timer runs: its phase-end job at the end, the `phase_ending_soon` job
    `ending_soon_seconds` before (both carry the version, so a later change voids them)."""
    if timer.state is not TimerState.RUNNING or timer.phase_ends_at is None:
        return
    room, ends_at = str(room_id), timer.phase_ends_at
    await tasks.phase_end.enqueue_at(session, ends_at, room_id=room, version=timer.version)
    soon = resources.settings.ending_soon_seconds
    if soon > 0:
        at = ends_at - timedelta(seconds=soon)
        await tasks.phase_ending_soon.enqueue_at(session, at, room_id=room, version=timer.version)


# Phases ending on time (jobs and the sweep)


async def advance(
    session: AsyncSession,
    resources: FocusResources,
    room_id: uuid.UUID,
    now: datetime,
    *,
    version: int | None = None,
) -> bool:
    """Write the phases of the room's timer that ended by `now` (and their sessions); False
    if none had (run twice, the second does nothing). A job that came early for its
    `version`'s phase asks to run again at its end."""
    room = await session.get(Room, room_id)
    if room is None or room.deleted_at is not None:
        return False
    durations = durations_of(room)
    for _ in range(ATTEMPTS):
        stored = await _stored(session, room_id)
        caught, ended = domain.catch_up(stored, now, durations)
        if not ended:
            if version == stored.version and stored.phase_ends_at is not None:
                ends_at = stored.phase_ends_at
                await tasks.phase_end.enqueue_at(
                    session, ends_at, room_id=str(room_id), version=version
                )
            return False
        if await repository.write(session, room_id, stored.version, caught):
            await _record(session, room_id, stored, caught, ended, now, reason=None)
            await _schedule(session, resources, room_id, caught)
            announce(session, resources, PHASE_CHANGED, view(room_id, caught))
            return True
    return False  # others kept writing it: the next sweep looks again


async def ending_soon(
    session: AsyncSession,
    resources: FocusResources,
    room_id: uuid.UUID,
    version: int,
    now: datetime,
) -> bool:
    """Tell the room its phase ends soon, if the timer is still in the phase the job was
    asked for (same version, running, not ended yet)."""
    row = await repository.load(session, room_id)
    if row is None or row.version != version or row.state is not TimerState.RUNNING:
        return False
    if row.phase_ends_at is None or row.phase_ends_at <= now:
        return False
    announce(session, resources, ENDING_SOON, view(room_id, _state(row)))
    return True


async def sweep(session: AsyncSession, resources: FocusResources, now: datetime) -> dict[str, int]:
    """The backstop: advance timers whose phase-end job is late or lost, pause the timers of
    rooms empty for `empty_room_pause_minutes`, archive rooms idle `archive_after_days`."""
    settings = resources.settings
    advanced = 0
    for room_id in await repository.due_rooms(session, now, SWEEP_BATCH):
        advanced += await advance(session, resources, room_id, now)
    paused = 0
    empty_since = now - timedelta(minutes=settings.empty_room_pause_minutes)
    for room in await repository.empty_running_rooms(session, empty_since, SWEEP_BATCH):
        paused += await _pause_empty(session, resources, room, now)
    idle_since = now - timedelta(days=settings.archive_after_days)
    archived = await repository.archive_idle(session, idle_since, now)
    return {"advanced": advanced, "paused": paused, "archived": archived}


async def _pause_empty(
    session: AsyncSession, resources: FocusResources, room: Room, now: datetime
) -> bool:
    """Pause an empty room's timer (a break that waits, or a command meanwhile, leaves it)."""
    try:
        await command(session, resources, room, Command.PAUSE, now)
    except TimerInvalidTransition:
        return False
    return True


# Focus sessions


async def _record(
    session: AsyncSession,
    room_id: uuid.UUID,
    before: domain.Timer,
    after: domain.Timer,
    ended: list[domain.PhaseEnded],
    now: datetime,
    *,
    reason: str | None,
) -> None:
    """The sessions of a change from `before` to `after`: the work phases that `ended` on
    time are credited; a work phase cut short (by `reason`) is closed; a new work phase opens
    a session for every member."""
    for phase in ended:
        if phase.phase is Phase.WORK:
            await _close_phase(session, room_id, phase.started_at, phase.ended_at)
    was_working = before.state is not TimerState.IDLE and before.phase is Phase.WORK
    new_phase = after.phase_started_at != before.phase_started_at
    if reason is not None and was_working and new_phase and before.phase_started_at is not None:
        closed = await repository.close_sessions(
            session, room_id, now, reason=reason, started_at=before.phase_started_at
        )
        await _ended(session, closed)
    if after.state is not TimerState.IDLE and after.phase is Phase.WORK and new_phase:
        assert after.phase_started_at is not None
        members = await rooms.members.user_ids(session, room_id)
        await repository.open_sessions(session, room_id, after.phase_started_at, members)


async def _close_phase(
    session: AsyncSession, room_id: uuid.UUID, started_at: datetime, ended_at: datetime
) -> None:
    """Credit a work phase that ended on time: whoever was present during it has a session
    (also for a phase no job opened, when the timer caught up on several), then each open
    one closes."""
    present = await repository.present_during(session, room_id, started_at, ended_at)
    await repository.open_sessions(session, room_id, started_at, present)
    closed = await repository.close_sessions(
        session, room_id, ended_at, reason=None, started_at=started_at
    )
    await _ended(session, closed)


async def _ended(session: AsyncSession, closed: Sequence[repository.ClosedSession]) -> None:
    for row in closed:
        payload = FocusSessionEnded(
            session_id=row.id,
            user_id=row.user_id,
            room_id=row.room_id,
            started_at=row.started_at,
            ended_at=row.ended_at,
            focus_seconds=row.focus_seconds,
            completed=row.completed,
        )
        envelope = Envelope.of(
            payload, aggregate_type=AGGREGATE_ROOM, aggregate_id=str(row.room_id)
        )
        await publish(session, envelope)


async def open_for(session: AsyncSession, room: Room, user_id: uuid.UUID, now: datetime) -> None:
    """A session for someone who joins during a work phase (so they can set a goal)."""
    timer = await current(session, room, now)
    if timer.state is not TimerState.IDLE and timer.phase is Phase.WORK:
        assert timer.phase_started_at is not None
        await repository.open_sessions(session, room.id, timer.phase_started_at, [user_id])


async def close_for(
    session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID, now: datetime, *, reason: str
) -> None:
    """Close the open session of someone who leaves (or is removed) now."""
    closed = await repository.close_sessions(session, room_id, now, reason=reason, user_id=user_id)
    await _ended(session, closed)


async def end(session: AsyncSession, room: Room, now: datetime) -> None:
    """A deleted room: its open sessions close (`room_deleted`) and its timer goes idle, so
    its pending jobs find nothing to do."""
    closed = await repository.close_sessions(session, room.id, now, reason="room_deleted")
    await _ended(session, closed)
    await repository.stop(session, room.id)
