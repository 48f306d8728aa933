"""`GET /stats/me`: totals and a per-day series over local days (DST change days of 23 and
25 hours, a session past local midnight on the day it started), streaks current and
longest, the time zone from settings or `tz`, and bad input."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ensemble.apps.focus.stats.domain import Period, window
from tests.apicheck import assert_error
from tests.apps.focus.conftest import API, FocusUser, FocusWorld
from tests.apps.focus.history import add_sessions, session_row, set_timezone
from tests.apps.focus.rows import add_room

NEW_YORK = ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def stats(focus: FocusWorld, user: FocusUser, **params: str) -> dict[str, Any]:
    response = await focus.client.get(f"{API}/stats/me", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def day_of(body: dict[str, Any], day: str) -> dict[str, Any]:
    return next(each for each in body["days"] if each["date"] == day)


async def history(focus: FocusWorld, *starts: tuple[datetime, float, bool]) -> FocusUser:
    """A user with closed sessions (start, minutes, completed)."""
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    rows = [session_row(user.user_id, room, s, minutes=m, completed=c) for s, m, c in starts]
    await add_sessions(focus.database, *rows)
    return user


# Periods (pure)


def test_a_week_runs_monday_to_sunday_and_a_month_is_the_calendar_month() -> None:
    week = window(Period.WEEK, date(2026, 3, 8), NEW_YORK)  # a Sunday
    assert (week.first, week.last) == (date(2026, 3, 2), date(2026, 3, 8))
    assert len(week.days) == 7
    february = window(Period.MONTH, date(2028, 2, 14), NEW_YORK)
    assert (february.first, february.last) == (date(2028, 2, 1), date(2028, 2, 29))
    december = window(Period.MONTH, date(2026, 12, 31), NEW_YORK)
    assert (december.first, december.last) == (date(2026, 12, 1), date(2026, 12, 31))


def test_dst_change_days_last_23_and_25_hours() -> None:
    spring = window(Period.DAY, date(2026, 3, 8), NEW_YORK)
    autumn = window(Period.DAY, date(2026, 11, 1), NEW_YORK)
    assert spring.ends_at - spring.starts_at == timedelta(hours=23)
    assert autumn.ends_at - autumn.starts_at == timedelta(hours=25)
    assert spring.starts_at == at("2026-03-08T05:00:00+00:00")  # midnight EST
    assert spring.ends_at == at("2026-03-09T04:00:00+00:00")  # midnight EDT


# DST through the API


async def test_the_spring_forward_day_counts_its_23_hours_and_no_more(focus: FocusWorld) -> None:
    user = await history(
        focus,
        (at("2026-03-08T04:30:00+00:00"), 40, True),  # 23:30 EST on the 7th, past midnight
        (at("2026-03-08T05:10:00+00:00"), 25, True),  # 00:10 EST on the 8th
        (at("2026-03-09T03:50:00+00:00"), 20, False),  # 23:50 EDT on the 8th
        (at("2026-03-09T04:10:00+00:00"), 25, True),  # 00:10 EDT on the 9th
    )
    body = await stats(focus, user, period="day", date="2026-03-08", tz="America/New_York")
    assert body["starts_at"] == "2026-03-08T05:00:00Z"
    assert body["ends_at"] == "2026-03-09T04:00:00Z"
    assert (body["sessions"], body["completed_sessions"]) == (2, 1)
    assert body["focus_minutes"] == 45
    assert body["completion_rate"] == 0.5
    assert [each["date"] for each in body["days"]] == ["2026-03-08"]

    week = await stats(focus, user, period="week", date="2026-03-08", tz="America/New_York")
    assert (week["first_day"], week["last_day"]) == ("2026-03-02", "2026-03-08")
    straddling = day_of(week, "2026-03-07")  # counted whole on the day it started
    assert (straddling["sessions"], straddling["focus_minutes"]) == (1, 40)
    assert day_of(week, "2026-03-08")["sessions"] == 2
    assert week["sessions"] == 3  # the 9th is next week


async def test_the_fall_back_day_counts_its_25_hours(focus: FocusWorld) -> None:
    user = await history(
        focus,
        (at("2026-11-01T04:05:00+00:00"), 25, True),  # 00:05 EDT on the 1st
        (at("2026-11-01T05:30:00+00:00"), 25, True),  # 01:30 EDT, the first 01:30
        (at("2026-11-01T06:30:00+00:00"), 25, True),  # 01:30 EST, the second 01:30
        (at("2026-11-02T04:30:00+00:00"), 50, True),  # 23:30 EST on the 1st, past midnight
        (at("2026-11-02T05:00:00+00:00"), 25, True),  # 00:00 EST on the 2nd
        (at("2026-11-01T03:55:00+00:00"), 25, True),  # 23:55 EDT on Oct 31st
    )
    body = await stats(focus, user, period="day", date="2026-11-01", tz="America/New_York")
    assert body["starts_at"] == "2026-11-01T04:00:00Z"
    assert body["ends_at"] == "2026-11-02T05:00:00Z"
    assert body["sessions"] == 4
    assert body["focus_minutes"] == 125

    month = await stats(focus, user, period="month", date="2026-11-20", tz="America/New_York")
    assert len(month["days"]) == 30
    assert [day_of(month, d)["sessions"] for d in ("2026-11-01", "2026-11-02")] == [4, 1]
    assert month["sessions"] == 5


async def test_the_same_sessions_fall_on_other_days_in_another_zone(focus: FocusWorld) -> None:
    user = await history(
        focus,
        (at("2026-03-08T04:30:00+00:00"), 25, True),  # the 7th in New York, the 8th in UTC
        (at("2026-03-09T03:50:00+00:00"), 25, True),  # the 8th in New York, the 9th in UTC
    )
    in_utc = await stats(focus, user, period="day", date="2026-03-08", tz="UTC")
    in_new_york = await stats(focus, user, period="day", date="2026-03-08", tz="America/New_York")
    assert in_utc["starts_at"] == "2026-03-08T00:00:00Z"
    assert in_utc["sessions"] == in_new_york["sessions"] == 1
    assert in_utc["focus_seconds"] == in_new_york["focus_seconds"] == 25 * 60


async def test_the_time_zone_comes_from_settings_unless_tz_overrides_it(focus: FocusWorld) -> None:
    user = await history(focus, (at("2026-06-01T16:00:00+00:00"), 25, True))  # 01:00 in Seoul
    await set_timezone(focus.database, user.user_id, "Asia/Seoul")
    from_settings = await stats(focus, user, period="day", date="2026-06-02")
    assert from_settings["tz"] == "Asia/Seoul"
    assert from_settings["starts_at"] == "2026-06-01T15:00:00Z"
    assert from_settings["sessions"] == 1
    overridden = await stats(focus, user, period="day", date="2026-06-02", tz="UTC")
    assert (overridden["tz"], overridden["sessions"]) == ("UTC", 0)


async def test_an_empty_period_has_every_day_at_zero_and_no_rate(focus: FocusWorld) -> None:
    user = await focus.user()
    body = await stats(focus, user, period="week", date="2026-01-07", tz="Europe/Paris")
    assert body["days"][0]["date"] == "2026-01-05"
    assert all(each["sessions"] == each["focus_seconds"] == 0 for each in body["days"])
    assert body["completion_rate"] is None
    assert (body["current_streak"], body["longest_streak"]) == (0, 0)


async def test_open_sessions_are_left_out_until_they_close(focus: FocusWorld) -> None:
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    start = at("2026-05-05T10:00:00+00:00")
    await add_sessions(focus.database, session_row(user.user_id, room, start, ended=False))
    body = await stats(focus, user, period="day", date="2026-05-05", tz="UTC")
    assert body["sessions"] == 0


async def test_the_default_period_is_this_week(focus: FocusWorld) -> None:
    user = await focus.user()
    body = await stats(focus, user, tz="UTC")
    today = datetime.now(UTC).date()
    assert body["period"] == "week"
    assert body["first_day"] == (today - timedelta(days=today.weekday())).isoformat()


# Streaks


def noon(day: date, tz: ZoneInfo, minute: int = 0) -> datetime:
    return datetime.combine(day, time(12, minute), tz)


async def streak_user(
    focus: FocusWorld, offsets: Sequence[int], *, interrupted: Sequence[int] = (), tz: str = "UTC"
) -> FocusUser:
    """A user with a completed session at noon on each day `offsets` days from today in
    `tz` (and interrupted ones on `interrupted` days)."""
    zone = ZoneInfo(tz)
    today = datetime.now(zone).date()
    done = [(n, True) for n in offsets] + [(n, False) for n in interrupted]
    runs = [
        (noon(today + timedelta(days=n), zone, minute), 25, completed)
        for minute, (n, completed) in enumerate(done)
    ]
    user = await history(focus, *runs)
    await set_timezone(focus.database, user.user_id, tz)
    return user


@pytest.mark.parametrize(
    ("offsets", "interrupted", "current", "longest"),
    [
        ([0, -1, -2], [], 3, 3),
        ([-1, -2], [], 2, 2),  # today's session may still come
        ([-2, -3], [], 0, 2),  # a whole day without one breaks it
        ([0, -1, -6, -7, -8, -9, -10], [], 2, 5),
        ([0, -2], [-1], 1, 1),  # an interrupted session keeps no streak
        ([0, 0, -1, -1], [], 2, 2),  # two sessions on one day count one day
        ([], [0, -1], 0, 0),
    ],
)
async def test_streaks_count_consecutive_local_days_with_a_completed_session(
    focus: FocusWorld, offsets: list[int], interrupted: list[int], current: int, longest: int
) -> None:
    user = await streak_user(focus, offsets, interrupted=interrupted)
    body = await stats(focus, user, period="day")
    assert (body["current_streak"], body["longest_streak"]) == (current, longest)


async def test_streaks_follow_local_days_across_a_dst_change(focus: FocusWorld) -> None:
    user = await history(
        focus,
        (at("2026-03-07T05:30:00+00:00"), 25, True),  # 00:30 EST on the 7th
        (at("2026-03-09T03:30:00+00:00"), 25, True),  # 23:30 EDT on the 8th
        (at("2026-03-10T03:59:00+00:00"), 25, True),  # 23:59 EDT on the 9th
    )
    in_new_york = await stats(focus, user, tz="America/New_York")
    in_utc = await stats(focus, user, tz="UTC")
    assert in_new_york["longest_streak"] == 3  # the 7th, 8th and 9th
    assert in_utc["longest_streak"] == 2  # the 7th, then the 9th and 10th


@pytest.mark.parametrize(
    ("tz", "offsets", "current"),
    [
        ("Pacific/Pago_Pago", [-1, -2], 2),  # UTC-11: UTC's yesterday is often its today
        ("Pacific/Kiritimati", [-2, -3], 0),  # UTC+14: UTC's today is often its yesterday
    ],
)
async def test_today_is_the_users_local_day(
    focus: FocusWorld, tz: str, offsets: list[int], current: int
) -> None:
    """At any hour, one of the two cases would fail if "today" were UTC's."""
    user = await streak_user(focus, offsets, tz=tz)
    assert (await stats(focus, user))["current_streak"] == current


# Auth and bad input


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"period": "year"}, "validation_error"),
        ({"period": ""}, "validation_error"),
        ({"tz": "Mars/Olympus_Mons"}, "invalid_timezone"),
        ({"tz": "america/new_york"}, "invalid_timezone"),
        ({"tz": "+05:00"}, "invalid_timezone"),
        ({"tz": "x" * 65}, "validation_error"),
        ({"date": "2026-02-30"}, "validation_error"),
        ({"date": "yesterday"}, "validation_error"),
    ],
)
async def test_bad_stats_input_is_422(focus: FocusWorld, params: dict[str, str], code: str) -> None:
    user = await focus.user()
    response = await focus.client.get(f"{API}/stats/me", params=params, headers=user.headers)
    assert_error(response, 422, code)


@pytest.mark.parametrize(
    "params",
    [
        {"period": "month", "date": "9999-12-31"},
        {"period": "week", "date": "9999-12-31"},
        {"period": "day", "date": "9999-12-31"},  # ends at year 10000's first midnight
        {"period": "day", "date": "0001-01-01", "tz": "Asia/Tokyo"},  # starts in year 0
    ],
)
async def test_a_period_past_the_calendars_edge_is_422(
    focus: FocusWorld, params: dict[str, str]
) -> None:
    """Once a 500: the period's bounds overflowed Python's datetime."""
    user = await focus.user()
    response = await focus.client.get(f"{API}/stats/me", params=params, headers=user.headers)
    assert_error(response, 422, "date_out_of_range")


@pytest.mark.parametrize(
    "params",
    [
        {"period": "day", "date": "9999-12-30"},
        {"period": "week", "date": "0001-01-01"},
        {"period": "day", "date": "0001-01-01", "tz": "Etc/GMT+12"},
    ],
)
async def test_a_period_just_inside_the_calendar_is_counted(
    focus: FocusWorld, params: dict[str, str]
) -> None:
    body = await stats(focus, await focus.user(), **params)
    assert body["sessions"] == 0


async def test_stats_see_only_your_own_sessions(focus: FocusWorld) -> None:
    other = await history(focus, (at("2026-04-01T10:00:00+00:00"), 25, True))
    user = await focus.user()
    body = await stats(focus, user, period="day", date="2026-04-01", tz="UTC")
    assert body["sessions"] == 0
    assert (await stats(focus, other, period="day", date="2026-04-01", tz="UTC"))["sessions"] == 1
    assert uuid.UUID(str(other.user_id)) != user.user_id
