"""The timer's pure state machine: every command in every state (illegal ones raise), and
time running across several phases: long breaks, breaks that wait, a late catch-up."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ensemble.apps.focus.domain import (
    ALLOWED,
    Command,
    Durations,
    InvalidTransition,
    Phase,
    Timer,
    TimerState,
    apply,
    catch_up,
    remaining_ms,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DURATIONS = Durations(work_minutes=25, break_minutes=5, long_break_minutes=15, long_break_every=4)
MIN = timedelta(minutes=1)


def idle() -> Timer:
    return Timer(version=3)


def running(phase: Phase = Phase.WORK, completed: int = 0) -> Timer:
    length = DURATIONS.of(phase)
    return Timer(TimerState.RUNNING, phase, T0, T0 + length, None, completed, version=3)


def paused(phase: Phase = Phase.WORK, completed: int = 0) -> Timer:
    return Timer(TimerState.PAUSED, phase, T0, None, 600_000, completed, version=3)


STATES = {"idle": idle(), "running": running(), "paused": paused()}
LEGAL = {
    ("idle", Command.START),
    ("idle", Command.RESET),
    ("running", Command.PAUSE),
    ("running", Command.SKIP),
    ("running", Command.RESET),
    ("paused", Command.RESUME),
    ("paused", Command.SKIP),
    ("paused", Command.RESET),
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("command", list(Command))
def test_every_command_in_every_state(state: str, command: Command) -> None:
    timer, now = STATES[state], T0 + 10 * MIN
    assert (timer.state in ALLOWED[command]) == ((state, command) in LEGAL)
    if (state, command) not in LEGAL:
        with pytest.raises(InvalidTransition) as refused:
            apply(timer, command, now, DURATIONS)
        assert refused.value.timer == timer
        assert refused.value.command is command
        return
    after = apply(timer, command, now, DURATIONS)
    assert after.version == timer.version + 1
    expected = {
        ("idle", Command.START): (TimerState.RUNNING, Phase.WORK, now + 25 * MIN, None),
        ("idle", Command.RESET): (TimerState.IDLE, Phase.WORK, None, None),
        ("running", Command.PAUSE): (TimerState.PAUSED, Phase.WORK, None, 15 * 60_000),
        ("running", Command.SKIP): (TimerState.RUNNING, Phase.SHORT_BREAK, now + 5 * MIN, None),
        ("running", Command.RESET): (TimerState.IDLE, Phase.WORK, None, None),
        ("paused", Command.RESUME): (TimerState.RUNNING, Phase.WORK, now + 10 * MIN, None),
        ("paused", Command.SKIP): (TimerState.PAUSED, Phase.SHORT_BREAK, None, 5 * 60_000),
        ("paused", Command.RESET): (TimerState.IDLE, Phase.WORK, None, None),
    }[(state, command)]
    assert (after.state, after.phase, after.phase_ends_at, after.paused_remaining_ms) == expected


def test_pause_keeps_the_phase_start_and_resume_keeps_the_remaining_time() -> None:
    paused_at = apply(running(), Command.PAUSE, T0 + 20 * MIN, DURATIONS)
    assert paused_at.phase_started_at == T0
    assert remaining_ms(paused_at, T0 + 40 * MIN) == 5 * 60_000
    resumed = apply(paused_at, Command.RESUME, T0 + 60 * MIN, DURATIONS)
    assert resumed.phase_ends_at == T0 + 65 * MIN


def test_reset_zeroes_the_counter() -> None:
    assert apply(running(completed=3), Command.RESET, T0, DURATIONS).completed_work_phases == 0


def test_skipping_work_counts_it_and_every_fourth_gives_a_long_break() -> None:
    timer = running(completed=3)
    after = apply(timer, Command.SKIP, T0 + MIN, DURATIONS)
    assert (after.phase, after.completed_work_phases) == (Phase.LONG_BREAK, 4)
    assert after.phase_ends_at == T0 + MIN + 15 * MIN


def test_time_runs_through_several_phases_each_starting_when_the_last_ended() -> None:
    start = apply(idle(), Command.START, T0, DURATIONS)
    # work 25, break 5, work 25, break 5, work 25, break 5, work 25, long break 15, work…
    now = T0 + timedelta(minutes=4 * 25 + 3 * 5 + 15 + 1)
    caught, ended = catch_up(start, now, DURATIONS)
    assert [p.phase for p in ended] == [
        Phase.WORK,
        Phase.SHORT_BREAK,
        Phase.WORK,
        Phase.SHORT_BREAK,
        Phase.WORK,
        Phase.SHORT_BREAK,
        Phase.WORK,
        Phase.LONG_BREAK,
    ]
    for before, after in itertools.pairwise(ended):
        assert after.started_at == before.ended_at
    assert (caught.state, caught.phase, caught.completed_work_phases) == (
        TimerState.RUNNING,
        Phase.WORK,
        4,
    )
    assert caught.phase_started_at == T0 + timedelta(minutes=4 * 25 + 3 * 5 + 15)
    assert caught.version == start.version + 1, "one write for the whole catch-up"


def test_long_breaks_never_come_when_every_is_zero() -> None:
    durations = replace(DURATIONS, long_break_every=0)
    start = apply(idle(), Command.START, T0, durations)
    _, ended = catch_up(start, T0 + timedelta(hours=5), durations)
    assert Phase.LONG_BREAK not in {p.phase for p in ended}


def test_a_break_that_does_not_start_by_itself_waits_paused_with_its_full_length() -> None:
    durations = replace(DURATIONS, auto_start_breaks=False)
    start = apply(idle(), Command.START, T0, durations)
    caught, ended = catch_up(start, T0 + timedelta(hours=3), durations)
    assert [p.phase for p in ended] == [Phase.WORK]
    assert (caught.state, caught.phase, caught.paused_remaining_ms) == (
        TimerState.PAUSED,
        Phase.SHORT_BREAK,
        5 * 60_000,
    )
    resumed = apply(caught, Command.RESUME, T0 + timedelta(hours=3), durations)
    _, after_break = catch_up(resumed, T0 + timedelta(hours=3, minutes=6), durations)
    assert [p.phase for p in after_break] == [Phase.SHORT_BREAK], "work starts by itself"


def test_nothing_to_catch_up_before_the_end_and_the_end_itself_counts() -> None:
    start = apply(idle(), Command.START, T0, DURATIONS)
    assert catch_up(start, T0 + 25 * MIN - timedelta(milliseconds=1), DURATIONS) == (start, [])
    _, ended = catch_up(start, T0 + 25 * MIN, DURATIONS)
    assert len(ended) == 1


def test_a_duration_change_applies_from_the_next_phase() -> None:
    start = apply(idle(), Command.START, T0, DURATIONS)
    longer = replace(DURATIONS, work_minutes=50, break_minutes=10)
    caught, ended = catch_up(start, T0 + 26 * MIN, longer)
    assert ended[0].ended_at == T0 + 25 * MIN, "the running phase keeps its end"
    assert caught.phase_ends_at == T0 + 35 * MIN, "the next one has the new length"
