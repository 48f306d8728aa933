"""Focus sessions: one per participant per work phase, opened when it starts (or when they
join during it), closed when it ends, credited from the presence spans (inserted here as the
socket part writes them): completed at 80 % of the phase, else why not; `FocusSessionEnded`
once per session."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select

from ensemble.apps.focus.models import FocusSession, PresenceSpan, Timer
from ensemble.apps.focus.tasks import phase_end
from ensemble.kernel.events.models import OutboxEvent
from tests.apps.focus.conftest import API, FocusUser, FocusWorld
from tests.apps.focus.roomkit import background, drive, go_back, join, open_room

MINUTES = timedelta(minutes=1)
PHASE = 25 * MINUTES


async def sessions_of(focus: FocusWorld, room_id: str) -> dict[uuid.UUID, list[FocusSession]]:
    async with focus.database.unit_of_work() as session:
        rows = await session.scalars(
            select(FocusSession)
            .where(FocusSession.room_id == uuid.UUID(room_id))
            .order_by(FocusSession.started_at)
        )
        found: dict[uuid.UUID, list[FocusSession]] = {}
        for row in rows:
            found.setdefault(row.user_id, []).append(row)
        return found


async def phase_start(focus: FocusWorld, room_id: str) -> datetime:
    async with focus.database.unit_of_work() as session:
        timer = await session.get(Timer, uuid.UUID(room_id))
    assert timer is not None
    assert timer.phase_started_at is not None
    return timer.phase_started_at


async def present(
    focus: FocusWorld,
    room_id: str,
    user: FocusUser,
    spans: Sequence[tuple[datetime, datetime | None]],
) -> None:
    async with focus.database.unit_of_work() as session:
        for started_at, ended_at in spans:
            session.add(
                PresenceSpan(
                    room_id=uuid.UUID(room_id),
                    user_id=user.user_id,
                    started_at=started_at,
                    ended_at=ended_at,
                )
            )


async def ended_events(focus: FocusWorld, room_id: str) -> list[dict[str, object]]:
    async with focus.database.unit_of_work() as session:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.type == "focus.SessionEnded", OutboxEvent.aggregate_id == room_id)
            .order_by(OutboxEvent.occurred_at)
        )
        return [row.payload for row in rows]


async def test_a_work_phase_opens_a_session_for_each_participant_and_for_late_joiners(
    focus: FocusWorld,
) -> None:
    owner, early, late = await focus.user(), await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    await join(focus, room["room_id"], early)
    assert await sessions_of(focus, room["room_id"]) == {}, "idle: no phase yet"
    await drive(focus, room["room_id"], owner, "start")
    await join(focus, room["room_id"], late)
    started = await phase_start(focus, room["room_id"])
    opened = await sessions_of(focus, room["room_id"])
    assert set(opened) == {owner.user_id, early.user_id, late.user_id}
    for (row,) in opened.values():
        assert (row.started_at, row.ended_at, row.completed) == (started, None, None)


async def test_credit_is_the_presence_within_the_phase(focus: FocusWorld, redis: Redis) -> None:
    owner, half, most, absent = [await focus.user() for _ in range(4)]
    room = await open_room(focus, owner)
    for user in (half, most, absent):
        await join(focus, room["room_id"], user)
    await drive(focus, room["room_id"], owner, "start")
    await go_back(focus, room["room_id"], PHASE + MINUTES)
    start = await phase_start(focus, room["room_id"])
    end = start + PHASE
    await present(focus, room["room_id"], owner, [(start - 5 * MINUTES, None)])
    half_time = (start + 5 * MINUTES, start + 17 * MINUTES + timedelta(seconds=30))
    await present(focus, room["room_id"], half, [half_time])
    await present(
        focus,
        room["room_id"],
        most,
        [(start, start + 10 * MINUTES), (start + 12 * MINUTES, end + 3 * MINUTES)],
    )
    jobs = background(focus, redis)
    await jobs.run(phase_end, room_id=room["room_id"], version=1)
    closed = {user: rows[0] for user, rows in (await sessions_of(focus, room["room_id"])).items()}
    credit = {
        user: (row.focus_seconds, row.completed, row.interrupted_reason, row.ended_at)
        for user, row in closed.items()
    }
    assert credit == {
        owner.user_id: (1500, True, None, end),
        half.user_id: (750, False, "absent", end),
        most.user_id: (1380, True, None, end),
        absent.user_id: (0, False, "absent", end),
    }
    events = await ended_events(focus, room["room_id"])
    assert sorted((e["user_id"], e["focus_seconds"], e["completed"]) for e in events) == sorted(
        (str(user), seconds, completed) for user, (seconds, completed, _, _) in credit.items()
    )
    await jobs.run(phase_end, room_id=room["room_id"], version=1)
    assert len(await ended_events(focus, room["room_id"])) == 4, "closed once"


async def test_a_late_catch_up_credits_every_work_phase_it_passes(
    focus: FocusWorld, redis: Redis
) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    await drive(focus, room["room_id"], owner, "start")
    await go_back(focus, room["room_id"], 2 * 60 * MINUTES)  # 4 work phases, a long break
    start = await phase_start(focus, room["room_id"])
    await present(focus, room["room_id"], owner, [(start, None)])
    await background(focus, redis).run(phase_end, room_id=room["room_id"], version=1)
    rows = (await sessions_of(focus, room["room_id"]))[owner.user_id]
    assert [(r.started_at - start, r.completed, r.focus_seconds) for r in rows] == [
        (k * 30 * MINUTES, True, 1500) for k in range(4)
    ]
    assert len(await ended_events(focus, room["room_id"])) == 4


async def test_skip_reset_and_leave_close_sessions_with_their_reason(focus: FocusWorld) -> None:
    owner, leaver = await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    await join(focus, room["room_id"], leaver)
    await drive(focus, room["room_id"], owner, "start")
    start = await phase_start(focus, room["room_id"])
    await present(focus, room["room_id"], leaver, [(start, None)])
    await focus.client.post(f"{API}/rooms/{room['room_id']}/leave", headers=leaver.headers)
    left = (await sessions_of(focus, room["room_id"]))[leaver.user_id][0]
    assert (left.completed, left.interrupted_reason) == (False, "left")
    assert left.ended_at is not None
    assert left.focus_seconds == int((left.ended_at - start).total_seconds())
    await drive(focus, room["room_id"], owner, "skip")
    await drive(focus, room["room_id"], owner, "skip")  # the break: a new work phase
    await drive(focus, room["room_id"], owner, "reset")
    owners = (await sessions_of(focus, room["room_id"]))[owner.user_id]
    assert [(s.completed, s.interrupted_reason) for s in owners] == [
        (False, "skipped"),
        (False, "reset"),
    ]
    assert len(await ended_events(focus, room["room_id"])) == 3
