"""The timer through the API and its jobs: who drives it, commands and their messages (sent
right after the commit), racing commands (one transition, one 409), reads that compute the
phase from the stored instants, phases that end on time with nobody connected (the phase-end
job, run twice; the sweep when a job is lost), `phase_ending_soon`, empty and idle rooms."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, select, text

from ensemble.apps.focus.events import room_channel
from ensemble.apps.focus.models import Room, Timer
from ensemble.apps.focus.tasks import phase_end, phase_ending_soon, sweep
from ensemble.kernel.jobs.models import OutboxJob
from ensemble.kernel.realtime import Publisher
from tests.apicheck import assert_error
from tests.apps.focus.conftest import API, FocusWorld
from tests.apps.focus.roomkit import (
    background,
    drive,
    go_back,
    join,
    listening,
    open_room,
    timer_of,
)

MINUTES = timedelta(minutes=1)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def stored(focus: FocusWorld, room_id: str) -> Timer:
    async with focus.database.unit_of_work() as session:
        row = await session.get(Timer, uuid.UUID(room_id))
    assert row is not None
    return row


async def pending_jobs(focus: FocusWorld, room_id: str) -> list[tuple[str, int]]:
    async with focus.database.unit_of_work() as session:
        rows = await session.scalars(
            select(OutboxJob).where(
                OutboxJob.dispatched_at.is_(None), OutboxJob.kwargs["room_id"].astext == room_id
            )
        )
        return sorted((row.job, row.kwargs["version"]) for row in rows)


# Commands


async def test_a_command_answers_the_new_state_and_the_room_hears_it_before_the_answer(
    focus: FocusWorld, redis: Redis
) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    async with listening(redis, room["room_id"]) as room_channel_:
        before = datetime.now(UTC)
        started = await drive(focus, room["room_id"], owner, "start")
        last = await Publisher(redis).last_number(room_channel(uuid.UUID(room["room_id"])))
        message = await room_channel_.next()
    assert started.status_code == 200, started.text
    timer = started.json()
    assert (timer["state"], timer["phase"], timer["version"]) == ("running", "work", 1)
    ends = at(timer["phase_ends_at"])
    assert ends - at(timer["phase_started_at"]) == 25 * MINUTES
    assert before <= at(timer["phase_started_at"]) <= at(timer["server_now"])
    assert message["seq"] == last, "published before the response went"
    assert message["type"] == "timer_started"
    assert {k: message[k] for k in timer if k != "server_now"} == {
        k: timer[k] for k in timer if k != "server_now"
    }
    assert at(message["server_now"]) >= at(timer["server_now"])
    assert await pending_jobs(focus, room["room_id"]) == [
        ("focus.phase_end", 1),
        ("focus.phase_ending_soon", 1),
    ]


async def test_every_command_sends_its_kind(focus: FocusWorld, redis: Redis) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    sequence = ["start", "pause", "resume", "skip", "reset"]
    async with listening(redis, room["room_id"]) as room_channel_:
        for command in sequence:
            assert (await drive(focus, room["room_id"], owner, command)).status_code == 200
        kinds = [(await room_channel_.next())["type"] for _ in sequence]
    assert kinds == [
        "timer_started",
        "timer_paused",
        "timer_resumed",
        "timer_skipped",
        "timer_reset",
    ]
    timer = await timer_of(focus, room["room_id"], owner)
    assert (timer["state"], timer["completed_work_phases"], timer["version"]) == ("idle", 0, 5)


async def test_who_may_drive(focus: FocusWorld) -> None:
    owner, member, stranger = await focus.user(), await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    await join(focus, room["room_id"], member)
    assert_error(await drive(focus, room["room_id"], member, "start"), 403, "not_owner")
    assert_error(await drive(focus, room["room_id"], stranger, "start"), 403, "not_a_member")
    url = f"{API}/rooms/{room['room_id']}"
    await focus.client.patch(url, json={"control": "everyone"}, headers=owner.headers)
    assert (await drive(focus, room["room_id"], member, "start")).status_code == 200
    assert_error(await drive(focus, room["room_id"], stranger, "pause"), 403, "not_a_member")
    private = await open_room(focus, owner, visibility="private", control="everyone")
    assert_error(await drive(focus, private["room_id"], stranger, "start"), 404, "room_not_found")
    unknown = await focus.client.post(f"{url}/timer/rewind", headers=owner.headers)
    assert_error(unknown, 422, "validation_error")


@pytest.mark.parametrize(
    ("prepare", "command", "state"),
    [
        ([], "pause", "idle"),
        ([], "resume", "idle"),
        ([], "skip", "idle"),
        (["start"], "start", "running"),
        (["start"], "resume", "running"),
        (["start", "pause"], "pause", "paused"),
        (["start", "pause"], "start", "paused"),
    ],
)
async def test_an_illegal_command_is_409_with_the_state_and_changes_nothing(
    focus: FocusWorld, prepare: list[str], command: str, state: str
) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    for each in prepare:
        await drive(focus, room["room_id"], owner, each)
    error = assert_error(
        await drive(focus, room["room_id"], owner, command), 409, "timer_invalid_transition"
    )
    assert error["details"]["timer"]["state"] == state
    assert error["details"]["timer"]["version"] == len(prepare)
    assert (await stored(focus, room["room_id"])).version == len(prepare)


@pytest.mark.parametrize("command", ["pause", "skip", "start"])
async def test_racing_commands_make_one_transition_and_409s(
    focus: FocusWorld, command: str
) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner, control="everyone")
    drivers = [owner] + [await focus.user() for _ in range(5)]
    for user in drivers[1:]:
        await join(focus, room["room_id"], user)
    if command != "start":
        await drive(focus, room["room_id"], owner, "start")
    version = (await stored(focus, room["room_id"])).version
    answers = await asyncio.gather(
        *(drive(focus, room["room_id"], u, command, version) for u in drivers)
    )
    assert sorted(a.status_code for a in answers) == [200] + [409] * (len(drivers) - 1)
    for answer in answers:
        if answer.status_code == 409:
            error = assert_error(answer, 409, "timer_invalid_transition")
            assert error["details"]["timer"]["version"] == version + 1
    after = await stored(focus, room["room_id"])
    assert after.version == version + 1
    if command == "skip":
        assert (after.phase.value, after.completed_work_phases) == ("short_break", 1)


async def test_a_command_on_a_version_the_timer_left_is_409_and_changes_nothing(
    focus: FocusWorld,
) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    assert (await drive(focus, room["room_id"], owner, "start", version=0)).status_code == 200
    assert (await drive(focus, room["room_id"], owner, "skip", version=1)).status_code == 200
    error = assert_error(
        await drive(focus, room["room_id"], owner, "skip", version=1),
        409,
        "timer_invalid_transition",
    )
    assert error["details"]["timer"]["version"] == 2
    assert error["details"]["timer"]["phase"] == "short_break"
    after = await stored(focus, room["room_id"])
    assert (after.version, after.phase.value) == (2, "short_break")


async def test_a_command_racing_the_phase_end_job_still_applies(
    focus: FocusWorld, redis: Redis
) -> None:
    """The job writes the catch-up the command made in memory: the command goes on."""
    owner = await focus.user()
    room = await open_room(focus, owner)
    await drive(focus, room["room_id"], owner, "start")
    await go_back(focus, room["room_id"], 26 * MINUTES)
    jobs = background(focus, redis)
    results = await asyncio.gather(
        jobs.run(phase_end, room_id=room["room_id"], version=1),
        drive(focus, room["room_id"], owner, "pause"),
    )
    assert results[1].status_code == 200, results[1].text
    after = await stored(focus, room["room_id"])
    assert (after.state.value, after.phase.value) == ("paused", "short_break")


# Time


async def test_a_read_computes_the_phase_before_any_job_ran(focus: FocusWorld) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    await drive(focus, room["room_id"], owner, "start")
    await go_back(focus, room["room_id"], 27 * MINUTES)
    timer = await timer_of(focus, room["room_id"], owner)
    assert (timer["state"], timer["phase"], timer["completed_work_phases"]) == (
        "running",
        "short_break",
        1,
    )
    assert at(timer["phase_ends_at"]) - at(timer["server_now"]) < 3 * MINUTES
    row = await stored(focus, room["room_id"])
    assert (row.phase.value, row.version) == ("work", 1), "a read writes nothing"


async def test_the_phase_ends_on_time_with_nobody_connected_and_the_job_is_idempotent(
    focus: FocusWorld, redis: Redis
) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    await drive(focus, room["room_id"], owner, "start")
    await go_back(focus, room["room_id"], 25 * MINUTES + 1 * timedelta(seconds=1))
    jobs = background(focus, redis)
    async with listening(redis, room["room_id"]) as room_channel_:
        assert await jobs.run_jobs(phase_end) == 1, "the job requested for the phase's end"
        changed = await room_channel_.next()
    row = await stored(focus, room["room_id"])
    assert (row.state.value, row.phase.value, row.version, row.completed_work_phases) == (
        "running",
        "short_break",
        2,
        1,
    )
    assert changed["type"] == "timer_phase_changed"
    assert changed["version"] == 2
    assert ("focus.phase_end", 2) in await pending_jobs(focus, room["room_id"])
    await jobs.run(phase_end, room_id=room["room_id"], version=1)
    await jobs.run(phase_end, room_id=room["room_id"], version=2)
    assert (await stored(focus, room["room_id"])).version == 2, "nothing more to do"


async def test_an_early_job_asks_to_run_again_at_the_end(focus: FocusWorld, redis: Redis) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    await drive(focus, room["room_id"], owner, "start")
    async with focus.database.unit_of_work() as session:
        await session.execute(delete(OutboxJob))
    await background(focus, redis).run(phase_end, room_id=room["room_id"], version=1)
    assert await pending_jobs(focus, room["room_id"]) == [("focus.phase_end", 1)]
    assert (await stored(focus, room["room_id"])).version == 1


async def test_a_duration_change_applies_from_the_next_phase(focus: FocusWorld) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    first = (await drive(focus, room["room_id"], owner, "start")).json()
    url = f"{API}/rooms/{room['room_id']}"
    changes = {"work_minutes": 50, "break_minutes": 10}
    assert (await focus.client.patch(url, json=changes, headers=owner.headers)).status_code == 200
    assert (await timer_of(focus, room["room_id"], owner))["phase_ends_at"] == first[
        "phase_ends_at"
    ]
    on_break = (await drive(focus, room["room_id"], owner, "skip")).json()
    assert at(on_break["phase_ends_at"]) - at(on_break["phase_started_at"]) == 10 * MINUTES
    working = (await drive(focus, room["room_id"], owner, "skip")).json()
    assert at(working["phase_ends_at"]) - at(working["phase_started_at"]) == 50 * MINUTES


async def test_breaks_that_wait_leave_the_timer_paused_after_work(
    focus: FocusWorld, redis: Redis
) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner, auto_start_breaks=False)
    await drive(focus, room["room_id"], owner, "start")
    await go_back(focus, room["room_id"], 40 * MINUTES)
    assert await background(focus, redis).run_jobs() == 2, "the phase's end and its notice"
    row = await stored(focus, room["room_id"])
    assert (row.state.value, row.phase.value, row.paused_remaining_ms) == (
        "paused",
        "short_break",
        5 * 60_000,
    )
    assert await pending_jobs(focus, room["room_id"]) == [], "a paused timer has no job"


async def test_phase_ending_soon_goes_out_for_the_phase_it_was_asked_for(
    focus: FocusWorld, redis: Redis
) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    await drive(focus, room["room_id"], owner, "start")
    jobs = background(focus, redis)
    async with listening(redis, room["room_id"]) as room_channel_:
        await jobs.run(phase_ending_soon, room_id=room["room_id"], version=0)
        await jobs.run(phase_ending_soon, room_id=room["room_id"], version=1)
        soon = await room_channel_.next()
        assert room_channel_.pending() == [], "the stale version said nothing"
    assert (soon["type"], soon["version"], soon["phase"]) == ("phase_ending_soon", 1, "work")


async def test_the_sweep_advances_a_room_whose_job_was_lost(
    focus: FocusWorld, redis: Redis
) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    await drive(focus, room["room_id"], owner, "start")
    async with focus.database.unit_of_work() as session:
        await session.execute(delete(OutboxJob))
    await go_back(focus, room["room_id"], 31 * MINUTES)
    await background(focus, redis).run(sweep)
    row = await stored(focus, room["room_id"])
    assert (row.phase.value, row.state.value, row.completed_work_phases) == ("work", "running", 1)


async def _set_room(focus: FocusWorld, room_id: str, **columns: Any) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    async with focus.database.unit_of_work() as session:
        await session.execute(
            text(f"UPDATE focus.rooms SET {assignments} WHERE id = :id"),
            {**columns, "id": uuid.UUID(room_id)},
        )


async def test_the_sweep_pauses_empty_rooms_and_archives_idle_ones(
    focus: FocusWorld, redis: Redis
) -> None:
    owner = await focus.user()
    empty, busy, idle = [await open_room(focus, owner, name=n) for n in ("Empty", "Busy", "Idle")]
    for room in (empty, busy):
        await drive(focus, room["room_id"], owner, "start")
    now = datetime.now(UTC)
    await _set_room(focus, empty["room_id"], emptied_at=now - 11 * MINUTES)
    await _set_room(focus, busy["room_id"], emptied_at=now - 9 * MINUTES)
    await _set_room(focus, idle["room_id"], last_active_at=now - timedelta(days=31))
    async with listening(redis, empty["room_id"]) as room_channel_:
        await background(focus, redis).run(sweep)
        paused = await room_channel_.next()
    assert paused["type"] == "timer_paused"
    assert (await stored(focus, empty["room_id"])).state.value == "paused"
    assert (await stored(focus, busy["room_id"])).state.value == "running"
    async with focus.database.unit_of_work() as session:
        rooms = {r.name: r for r in await session.scalars(select(Room))}
    assert rooms["Idle"].archived_at is not None
    assert rooms["Empty"].archived_at is None
    assert rooms["Busy"].archived_at is None


async def test_the_server_clock(focus: FocusWorld) -> None:
    before = datetime.now(UTC)
    response = await focus.client.get(f"{API}/time")
    assert response.status_code == 200
    assert before <= at(response.json()["server_now"]) <= datetime.now(UTC)
