"""Achievements: each rule of the catalogue, unlocked by the consumer of the rooms part's
events (sessions and rooms written with the ORM, envelopes delivered in this process), once
whatever the duplicates and concurrency, with one `AchievementUnlocked` per unlock; the
catalogue and your progress over the API."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from ensemble.apps.focus import app as focus_app
from ensemble.apps.focus.achievements.domain import catalogue, parse_catalogue
from ensemble.apps.focus.achievements.models import HostedRoom, Unlock
from ensemble.apps.focus.events import AGGREGATE_USER, AchievementUnlocked
from ensemble.apps.focus.models import FocusSession
from ensemble.kernel.events.models import OutboxEvent
from tests.apps.focus.conftest import API, FocusUser, FocusWorld
from tests.apps.focus.history import (
    add_sessions,
    created,
    ended,
    session_row,
    set_timezone,
)
from tests.apps.focus.rows import add_room
from tests.outboxes import Outboxes

START = datetime(2026, 4, 1, 9, tzinfo=UTC)


@pytest.fixture
def outboxes(focus: FocusWorld, redis: Redis) -> Outboxes:
    return Outboxes(focus.settings, focus.database, redis, [focus_app])


async def unlocked(focus: FocusWorld, user: FocusUser) -> set[str]:
    async with focus.database.unit_of_work() as session:
        rows = await session.scalars(select(Unlock.code).where(Unlock.user_id == user.user_id))
        return set(rows)


async def announced(focus: FocusWorld) -> list[dict[str, Any]]:
    """The payloads of the `AchievementUnlocked` events in the outbox."""
    async with focus.database.unit_of_work() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == AchievementUnlocked.TYPE)
        )
        return [
            {**row.payload, "aggregate": (row.aggregate_type, row.aggregate_id)} for row in rows
        ]


async def earn(
    focus: FocusWorld, outboxes: Outboxes, user: FocusUser, rows: Sequence[FocusSession]
) -> set[str]:
    """Write `rows`, deliver the end of the last one, and return the user's unlocks."""
    await add_sessions(focus.database, *rows)
    await outboxes.deliver(ended(rows[-1]))
    return await unlocked(focus, user)


def completed_in_a_row(
    user: FocusUser, room: Any, count: int, *, every: timedelta = timedelta(hours=1)
) -> list[FocusSession]:
    return [session_row(user.user_id, room, START + every * n) for n in range(count)]


# Catalogue


def test_the_catalogue_has_every_required_rule() -> None:
    codes = {each.code for each in catalogue()}
    assert codes >= {
        "first_session",
        "sessions_10",
        "sessions_100",
        "streak_7",
        "streak_30",
        "focus_10_hours",
        "night_owl",
        "early_bird",
        "host_10_rooms",
    }


ENTRY = '[[achievement]]\ncode="{}"\nname="A"\ndescription="d"\nmetric="{}"\ntarget={}\n'


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        (ENTRY.format("a", "vibes", 1), "'vibes' is not a valid Metric"),
        (ENTRY.format("a", "rooms_hosted", 0), "target is at least 1"),
        (ENTRY.format("a", "rooms_hosted", 1) + ENTRY.format("a", "rooms_hosted", 2), "repeat"),
    ],
)
def test_a_broken_catalogue_is_refused(toml: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_catalogue(toml)


async def test_the_catalogue_route_lists_it(focus: FocusWorld) -> None:
    user = await focus.user()
    response = await focus.client.get(f"{API}/achievements", headers=user.headers)
    assert response.status_code == 200
    first = response.json()[0]
    assert first == {
        "code": "first_session",
        "name": first["name"],
        "description": first["description"],
        "metric": "completed_sessions",
        "target": 1,
    }
    assert [each["code"] for each in response.json()] == [each.code for each in catalogue()]


# Each rule


async def test_first_session_needs_a_completed_one(focus: FocusWorld, outboxes: Outboxes) -> None:
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    skipped = session_row(user.user_id, room, START, minutes=3, completed=False)
    assert await earn(focus, outboxes, user, [skipped]) == set()
    done = session_row(user.user_id, room, START + timedelta(hours=1))
    assert await earn(focus, outboxes, user, [done]) == {"first_session"}
    [event] = await announced(focus)
    assert event["user_id"] == str(user.user_id)
    assert (event["code"], event["name"]) == ("first_session", "First focus")
    assert event["aggregate"] == (AGGREGATE_USER, str(user.user_id))


@pytest.mark.parametrize(("target", "code"), [(10, "sessions_10"), (100, "sessions_100")])
async def test_session_counts(
    focus: FocusWorld, outboxes: Outboxes, target: int, code: str
) -> None:
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    rows = completed_in_a_row(user, room, target)
    interrupted = session_row(user.user_id, room, START - timedelta(hours=1), completed=False)
    assert code not in await earn(focus, outboxes, user, [interrupted, *rows[:-1]])
    assert code in await earn(focus, outboxes, user, rows[-1:])


@pytest.mark.parametrize(("days", "code"), [(7, "streak_7"), (30, "streak_30")])
async def test_streaks_of_local_days(
    focus: FocusWorld, outboxes: Outboxes, days: int, code: str
) -> None:
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    await set_timezone(focus.database, user.user_id, "America/New_York")
    zone = ZoneInfo("America/New_York")
    first = datetime(2026, 2, 20).date()  # through the DST change of March 8th
    # 23:30 local each day: in UTC the next day, and a different one than 23:30 EDT/EST
    rows = [
        session_row(
            user.user_id, room, datetime.combine(first + timedelta(days=n), time(23, 30), zone)
        )
        for n in range(days)
    ]
    gap = datetime.combine(first - timedelta(days=2), time(12), zone)
    before = session_row(user.user_id, room, gap)  # not part of the run
    assert code not in await earn(focus, outboxes, user, [before, *rows[:-1]])
    assert code in await earn(focus, outboxes, user, rows[-1:])


async def test_ten_hours_focused_counts_interrupted_sessions_too(
    focus: FocusWorld, outboxes: Outboxes
) -> None:
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    rows = [
        session_row(
            user.user_id, room, START + timedelta(hours=n), minutes=50, completed=n % 2 == 0
        )
        for n in range(12)
    ]  # 600 minutes, half of them in interrupted sessions
    rows[-1].focus_seconds = 50 * 60 - 1
    assert "focus_10_hours" not in await earn(focus, outboxes, user, rows)
    last = session_row(user.user_id, room, START + timedelta(days=1), minutes=1 / 60)
    assert "focus_10_hours" in await earn(focus, outboxes, user, [last])


@pytest.mark.parametrize(
    ("local", "completed", "expected"),
    [
        (time(0, 0), True, {"night_owl"}),
        (time(3, 59), True, {"night_owl"}),
        (time(4, 0), True, set()),
        (time(1, 30), False, set()),
        (time(4, 59), True, set()),
        (time(5, 0), True, {"early_bird"}),
        (time(6, 59), True, {"early_bird"}),
        (time(7, 0), True, set()),
        (time(23, 59), True, set()),
    ],
)
async def test_night_owl_and_early_bird_by_local_start(
    focus: FocusWorld, outboxes: Outboxes, local: time, completed: bool, expected: set[str]
) -> None:
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    await set_timezone(focus.database, user.user_id, "Asia/Seoul")
    start = datetime.combine(START.date(), local, ZoneInfo("Asia/Seoul"))
    row = session_row(user.user_id, room, start, completed=completed)
    earned = await earn(focus, outboxes, user, [row])
    assert earned - {"first_session"} == expected


async def test_hosting_ten_rooms(focus: FocusWorld, outboxes: Outboxes) -> None:
    user = await focus.user()
    rooms = [await add_room(focus.database, user.user_id) for _ in range(10)]
    for room in rooms[:9]:
        await outboxes.deliver(created(room, user.user_id, START))
    await outboxes.deliver(created(rooms[0], user.user_id, START))  # a new event, same room
    assert await unlocked(focus, user) == set()
    await outboxes.deliver(created(rooms[9], user.user_id, START))
    assert await unlocked(focus, user) == {"host_10_rooms"}
    async with focus.database.unit_of_work() as session:
        count = select(func.count()).where(HostedRoom.user_id == user.user_id)
        assert (await session.execute(count)).scalar_one() == 10


# Once


async def test_one_envelope_delivered_20_times_at_once_unlocks_once(
    focus: FocusWorld, outboxes: Outboxes
) -> None:
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    [row] = await add_sessions(focus.database, session_row(user.user_id, room, START))
    envelope = ended(row)
    async with outboxes.resources():
        await asyncio.gather(*(outboxes.deliver(envelope) for _ in range(20)))
    assert await unlocked(focus, user) == {"first_session"}
    assert [each["code"] for each in await announced(focus)] == ["first_session"]


async def test_twenty_events_at_once_unlock_once(focus: FocusWorld, outboxes: Outboxes) -> None:
    """Different events (each past the `processed_events` guard) all earning the same
    achievements: the unique row lets one of them unlock each."""
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    rows = completed_in_a_row(user, room, 20, every=timedelta(minutes=30))
    await add_sessions(focus.database, *rows)
    async with outboxes.resources():
        await asyncio.gather(*(outboxes.deliver(ended(row)) for row in rows))
    assert await unlocked(focus, user) == {"first_session", "sessions_10"}
    codes = sorted(each["code"] for each in await announced(focus))
    assert codes == ["first_session", "sessions_10"]


async def test_ten_rooms_created_at_once_unlock_hosting_once(
    focus: FocusWorld, outboxes: Outboxes
) -> None:
    """Each event counts its own room: without the per-user lock, each transaction would miss
    the rooms the others are adding and none would see ten."""
    user = await focus.user()
    rooms = [await add_room(focus.database, user.user_id) for _ in range(10)]
    async with outboxes.resources():
        await asyncio.gather(
            *(outboxes.deliver(created(room, user.user_id, START)) for room in rooms)
        )
    assert await unlocked(focus, user) == {"host_10_rooms"}
    assert [each["code"] for each in await announced(focus)] == ["host_10_rooms"]


async def test_a_second_delivery_changes_nothing(focus: FocusWorld, outboxes: Outboxes) -> None:
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    [row] = await add_sessions(focus.database, session_row(user.user_id, room, START))
    envelope = ended(row)
    await outboxes.deliver(envelope)
    await outboxes.deliver(envelope)
    again = ended(row)  # the same news under a new event id
    assert again.event_id != envelope.event_id
    await outboxes.deliver(again)
    assert len(await announced(focus)) == 1


# Your progress


async def test_my_achievements_show_unlocks_and_progress(
    focus: FocusWorld, outboxes: Outboxes
) -> None:
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    await earn(focus, outboxes, user, completed_in_a_row(user, room, 3, every=timedelta(days=1)))
    response = await focus.client.get(f"{API}/achievements/me", headers=user.headers)
    assert response.status_code == 200
    body = response.json()
    assert [each["code"] for each in body["unlocked"]] == ["first_session"]
    assert body["unlocked"][0]["unlocked_at"] is not None
    locked = {each["code"]: (each["progress"], each["target"]) for each in body["locked"]}
    assert locked["sessions_10"] == (3, 10)
    assert locked["streak_7"] == (3, 7)
    assert locked["focus_10_hours"] == (75, 600)
    assert locked["host_10_rooms"] == (0, 10)
    assert "first_session" not in locked
    stranger = await focus.user()
    theirs = (await focus.client.get(f"{API}/achievements/me", headers=stranger.headers)).json()
    assert theirs["unlocked"] == []
    assert {each["progress"] for each in theirs["locked"]} == {0}
