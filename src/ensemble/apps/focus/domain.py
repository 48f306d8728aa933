"""Focus Mate's pure rules: the room timer's state machine, room bounds and defaults.

No session, no I/O, no clock: every function takes `now`. The timer row in PostgreSQL is the
truth (`models.Timer`); these functions compute the next state from it, and the service
writes it back compare-and-set on `version`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

# Room bounds and defaults (spec "Rooms and participants")

NAME_MIN, NAME_MAX = 3, 50
WORK_MINUTES = (1, 60, 25)  # min, max, default
BREAK_MINUTES = (1, 30, 5)
LONG_BREAK_MINUTES = (1, 60, 15)
LONG_BREAK_EVERY = (0, 12, 4)  # 0: never
MAX_PARTICIPANTS = (2, 1000, 50)
COMPLETED_SHARE = 0.8
"""A participant present for at least this share of a work phase completed it."""


class TimerState(enum.StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"


class Phase(enum.StrEnum):
    WORK = "work"
    SHORT_BREAK = "short_break"
    LONG_BREAK = "long_break"


class Command(enum.StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    SKIP = "skip"
    RESET = "reset"


@dataclass(frozen=True)
class Durations:
    """A room's phase lengths, as they apply to the next phase that starts."""

    work_minutes: int = WORK_MINUTES[2]
    break_minutes: int = BREAK_MINUTES[2]
    long_break_minutes: int = LONG_BREAK_MINUTES[2]
    long_break_every: int = LONG_BREAK_EVERY[2]
    auto_start_breaks: bool = True

    def of(self, phase: Phase) -> timedelta:
        minutes = {
            Phase.WORK: self.work_minutes,
            Phase.SHORT_BREAK: self.break_minutes,
            Phase.LONG_BREAK: self.long_break_minutes,
        }[phase]
        return timedelta(minutes=minutes)


@dataclass(frozen=True)
class Timer:
    """A room's timer. `phase_ends_at` is set while running; `paused_remaining_ms` while
    paused; both are None when idle. `completed_work_phases` counts work phases ended (on
    time or skipped) since the last reset: it decides when a long break comes."""

    state: TimerState = TimerState.IDLE
    phase: Phase = Phase.WORK
    phase_started_at: datetime | None = None
    phase_ends_at: datetime | None = None
    paused_remaining_ms: int | None = None
    completed_work_phases: int = 0
    version: int = 0


@dataclass(frozen=True)
class PhaseEnded:
    """A phase that ended (by time or by `skip`), with when it started and ended."""

    phase: Phase
    started_at: datetime
    ended_at: datetime
    skipped: bool


class InvalidTransition(Exception):
    """The command is not allowed in the timer's current state."""

    def __init__(self, command: Command, timer: Timer) -> None:
        super().__init__(f"{command.value} is not allowed while {timer.state.value}")
        self.command = command
        self.timer = timer


ALLOWED: dict[Command, frozenset[TimerState]] = {
    Command.START: frozenset({TimerState.IDLE}),
    Command.PAUSE: frozenset({TimerState.RUNNING}),
    Command.RESUME: frozenset({TimerState.PAUSED}),
    Command.SKIP: frozenset({TimerState.RUNNING, TimerState.PAUSED}),
    Command.RESET: frozenset(TimerState),
}
"""Which states each command may be applied in; anything else is `timer_invalid_transition`."""


def next_phase(phase: Phase, completed_work_phases: int, durations: Durations) -> Phase:
    """The phase after `phase`; `completed_work_phases` already counts a work phase ending."""
    if phase is not Phase.WORK:
        return Phase.WORK
    every = durations.long_break_every
    if every and completed_work_phases % every == 0:
        return Phase.LONG_BREAK
    return Phase.SHORT_BREAK


def _running(timer: Timer, phase: Phase, now: datetime, length: timedelta) -> Timer:
    return replace(
        timer,
        state=TimerState.RUNNING,
        phase=phase,
        phase_started_at=now,
        phase_ends_at=now + length,
        paused_remaining_ms=None,
    )


def _paused(timer: Timer, phase: Phase, now: datetime, remaining: timedelta) -> Timer:
    return replace(
        timer,
        state=TimerState.PAUSED,
        phase=phase,
        phase_started_at=now,
        phase_ends_at=None,
        paused_remaining_ms=_ms(remaining),
    )


def _ms(delta: timedelta) -> int:
    return max(0, round(delta.total_seconds() * 1000))


def _end_phase(
    timer: Timer, ended_at: datetime, starts_at: datetime, durations: Durations, *, running: bool
) -> Timer:
    """The timer once its current phase ended at `ended_at`: the next phase starts at
    `starts_at`, running unless it is a break that does not start by itself, or `running`
    is False (a skip while paused keeps the timer paused)."""
    completed = timer.completed_work_phases + (timer.phase is Phase.WORK)
    following = next_phase(timer.phase, completed, durations)
    timer = replace(timer, completed_work_phases=completed)
    length = durations.of(following)
    waits = following is not Phase.WORK and not durations.auto_start_breaks
    if running and not waits:
        return _running(timer, following, starts_at, length)
    return _paused(timer, following, ended_at, length)


def apply(timer: Timer, command: Command, now: datetime, durations: Durations) -> Timer:
    """The timer after `command` at `now`, one version on; `InvalidTransition` if the
    command is not allowed in its state. Call `catch_up` first: a phase that ended on time
    ends before the command applies."""
    if timer.state not in ALLOWED[command]:
        raise InvalidTransition(command, timer)
    match command:
        case Command.START:
            changed = _running(timer, Phase.WORK, now, durations.of(Phase.WORK))
        case Command.PAUSE:  # the phase keeps its start; only the clock stops
            assert timer.phase_ends_at is not None
            remaining = _ms(timer.phase_ends_at - now)
            changed = replace(
                timer, state=TimerState.PAUSED, phase_ends_at=None, paused_remaining_ms=remaining
            )
        case Command.RESUME:
            assert timer.paused_remaining_ms is not None
            ends_at = now + timedelta(milliseconds=timer.paused_remaining_ms)
            changed = replace(
                timer, state=TimerState.RUNNING, phase_ends_at=ends_at, paused_remaining_ms=None
            )
        case Command.SKIP:
            running = timer.state is TimerState.RUNNING
            changed = _end_phase(timer, now, now, durations, running=running)
        case Command.RESET:
            changed = Timer()
    return replace(changed, version=timer.version + 1)


def ended_phase(timer: Timer, now: datetime) -> PhaseEnded | None:
    """The running phase, if it has ended by `now`."""
    if timer.state is not TimerState.RUNNING or timer.phase_ends_at is None:
        return None
    if timer.phase_ends_at > now:
        return None
    assert timer.phase_started_at is not None
    return PhaseEnded(timer.phase, timer.phase_started_at, timer.phase_ends_at, skipped=False)


def catch_up(
    timer: Timer, now: datetime, durations: Durations, *, limit: int = 1000
) -> tuple[Timer, list[PhaseEnded]]:
    """The timer at `now` with every phase that ended on time moved on (each next phase
    starts exactly when the last one ended, so a late job loses no time), and those phases.
    The version goes up once if anything changed. `limit` bounds a timer left running for
    a very long time; the caller pauses empty rooms long before it matters."""
    ended: list[PhaseEnded] = []
    current = timer
    while len(ended) < limit and (phase := ended_phase(current, now)) is not None:
        ended.append(phase)
        current = _end_phase(current, phase.ended_at, phase.ended_at, durations, running=True)
    if not ended:
        return timer, []
    return replace(current, version=timer.version + 1), ended


def remaining_ms(timer: Timer, now: datetime) -> int | None:
    """What is left of the current phase at `now` (None when idle)."""
    if timer.state is TimerState.RUNNING and timer.phase_ends_at is not None:
        return _ms(timer.phase_ends_at - now)
    return timer.paused_remaining_ms


# Notification preferences (spec "Settings")


class Channel(enum.StrEnum):
    """Where a notification goes."""

    IN_APP = "in_app"
    EMAIL = "email"
    PUSH = "push"


class NotificationKind(enum.StrEnum):
    """What a notification is about."""

    MESSAGE = "message"
    ACHIEVEMENT = "achievement"
    ROOM = "room"
    COMMUNITY = "community"


Preferences = dict[Channel, dict[NotificationKind, bool]]


def allows(stored: Mapping[str, Mapping[str, bool]], channel: Channel, kind: str) -> bool:
    """Whether a user's choices (`stored`, as `user_settings` keeps them) let a notification
    of `kind` out on `channel`: on unless they said no. The inbox keeps it either way."""
    return stored.get(channel.value, {}).get(kind, True) is not False


def notification_preferences(stored: Mapping[str, Mapping[str, bool]]) -> Preferences:
    """Every channel and kind as a user chose it (`stored`); a choice never made is on."""
    return {
        channel: {kind: allows(stored, channel, kind) for kind in NotificationKind}
        for channel in Channel
    }


def merged_preferences(
    stored: Mapping[str, Mapping[str, bool]], changes: Mapping[str, Mapping[str, bool]]
) -> dict[str, dict[str, bool]]:
    """`stored` with `changes` applied, kind by kind (kinds not named keep their choice)."""
    merged = {channel: dict(kinds) for channel, kinds in stored.items()}
    for channel, kinds in changes.items():
        merged.setdefault(channel, {}).update(kinds)
    return merged
