"""The daily login reward and the streak: once per local day (also under 50 concurrent
claims), the day turning at the member's own midnight, calendar days across a DST change, a
shield covering one missed day, the weekly reward on day 7, the calendar and the preview.
Time is injected (`now=`); one test goes through the real login."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, update

from ensemble.apps.casino import service as casino_service
from ensemble.apps.casino.domain import COINS, DAILY_CYCLE, STREAK_SHIELD, RewardKind
from ensemble.apps.casino.inventory import service as inventory
from ensemble.apps.casino.rewards import service as rewards
from ensemble.apps.casino.rewards.models import Reward, Streak, StreakDay
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.kernel.db import utcnow
from tests.apicheck import assert_error, snapshot
from tests.apps.casino.conftest import API, WRITTEN, CasinoWorld, Member

SIGNUP_COINS = CasinoSettings().signup_coins
CYCLE_COINS = [spec.amount or 0 for spec in DAILY_CYCLE[:6]]
TOUCHED = (*WRITTEN, "casino.rewards", "casino.inventory", "casino.streaks", "casino.streak_days")


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time in `zone`."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


@dataclass(frozen=True)
class Claimed:
    """What a claim answered, read inside its transaction."""

    day: date
    claimed_now: bool
    streak_day: int
    shield_used: bool
    current: int
    reward: tuple[RewardKind, int | None, str | None] | None


async def claim(casino: CasinoWorld, member: Member, now: datetime) -> Claimed:
    async with casino.database.unit_of_work() as session:
        got = await rewards.daily_login(session, member.user_id, now=now)
        reward = got.reward
        return Claimed(
            got.day.day,
            got.claimed_now,
            got.day.streak_day,
            got.day.shield_used,
            got.streak.current,
            None if reward is None else (reward.kind, reward.amount, reward.item_id),
        )


async def view(
    casino: CasinoWorld, member: Member, now: datetime, month: date | None = None
) -> rewards.StreakView:
    async with casino.database.sessionmaker() as session:
        return await rewards.streak_view(session, member.user_id, now=now, month=month)


async def fresh(casino: CasinoWorld, member: Member, zone: str = "UTC", shields: int = 0) -> None:
    """Forget the member's sign-up day (as for an account an admin command made), set its
    time zone and give it `shields`."""
    async with casino.database.unit_of_work() as session:
        await session.execute(delete(StreakDay).where(StreakDay.user_id == member.user_id))
        await session.execute(delete(Streak).where(Streak.user_id == member.user_id))
        await rewards.set_time_zone(session, member.user_id, zone)
        if shields:
            await inventory.grant(session, member.user_id, {STREAK_SHIELD: shields})


async def coins_of(casino: CasinoWorld, member: Member) -> int:
    async with casino.database.sessionmaker() as session:
        return (await casino_service.wallet(session, member.user_id))[COINS]


async def shields_of(casino: CasinoWorld, member: Member) -> int:
    async with casino.database.sessionmaker() as session:
        return await inventory.quantity(session, member.user_id, STREAK_SHIELD)


async def signed_up_yesterday(casino: CasinoWorld, member: Member) -> date:
    """Move the member's sign-up day (its first streak day, UTC) back by one; today."""
    today = utcnow().date()
    yesterday = today - timedelta(days=1)
    async with casino.database.unit_of_work() as session:
        where = StreakDay.user_id == member.user_id
        await session.execute(update(StreakDay).where(where).values(day=yesterday))
        await session.execute(
            update(Streak).where(Streak.user_id == member.user_id).values(last_day=yesterday)
        )
    return today


# the sign-up day, the login, concurrency


async def test_the_sign_up_day_is_the_first_day_of_the_streak(casino: CasinoWorld) -> None:
    member = await casino.member()
    today = utcnow().date()
    answer = await casino.client.get(f"{API}/rewards/streak", headers=member.headers)
    assert answer.status_code == 200, answer.text
    streak = answer.json()
    tomorrow = today + timedelta(days=1)
    assert {key: streak[key] for key in streak if key != "next_rewards"} == {
        "time_zone": "UTC",
        "today": today.isoformat(),
        "current": 1,
        "longest": 1,
        "today_claimed": True,
        "shields": 0,
        "month": today.strftime("%Y-%m"),
        "calendar": [{"day": today.isoformat(), "streak_day": 1, "shield_used": False}],
    }
    previews = streak["next_rewards"]
    assert [p["streak_day"] for p in previews] == [2, 3, 4, 5, 6, 7, 8]
    assert previews[0] == {
        "day": tomorrow.isoformat(),
        "streak_day": 2,
        "reward": {"kind": "coins", "amount": 150, "item_id": None, "quantity": None},
    }
    assert previews[5]["reward"] == {
        "kind": "item",
        "amount": None,
        "item_id": STREAK_SHIELD,
        "quantity": 1,
    }
    again = await casino.client.post(f"{API}/rewards/daily", headers=member.headers)
    assert again.status_code == 200, again.text
    assert again.json() | {"reward": None} == {
        "day": today.isoformat(),
        "streak_day": 1,
        "shield_used": False,
        "reward": None,
        "streak": {"current": 1, "longest": 1},
        "claimed_now": False,
    }
    assert await coins_of(casino, member) == SIGNUP_COINS  # the sign-up grant was the day's


async def test_the_first_login_of_a_day_grants_its_reward_once(casino: CasinoWorld) -> None:
    member = await casino.member()
    await signed_up_yesterday(casino, member)
    await casino.login(member.nickname)
    await casino.login(member.nickname)
    assert await coins_of(casino, member) == SIGNUP_COINS + CYCLE_COINS[1]
    streak = await casino.client.get(f"{API}/rewards/streak", headers=member.headers)
    assert (streak.json()["current"], streak.json()["today_claimed"]) == (2, True)
    profile = await casino.client.get(
        f"{API}/users/{member.user_id}/profile", headers=member.headers
    )
    assert profile.json()["streak"] == 2
    history = await casino.client.get(f"{API}/rewards/history", headers=member.headers)
    [reward] = history.json()["items"]
    assert (reward["reason"], reward["amount"], reward["granted_by"]) == ("daily_login", 150, None)


async def test_fifty_concurrent_claims_grant_the_day_once(casino: CasinoWorld) -> None:
    member = await casino.member()
    await signed_up_yesterday(casino, member)
    answers = await asyncio.gather(
        *(casino.client.post(f"{API}/rewards/daily", headers=member.headers) for _ in range(50))
    )
    assert sorted(a.status_code for a in answers) == [200] * 49 + [201], answers[0].text
    assert len({a.json()["reward"]["reward_id"] for a in answers}) == 1
    assert await coins_of(casino, member) == SIGNUP_COINS + CYCLE_COINS[1]

    tomorrow = utcnow() + timedelta(days=1)
    claims = await asyncio.gather(*(claim(casino, member, tomorrow) for _ in range(50)))
    assert [each.claimed_now for each in claims].count(True) == 1
    assert {each.streak_day for each in claims} == {3}
    assert await coins_of(casino, member) == SIGNUP_COINS + CYCLE_COINS[1] + CYCLE_COINS[2]
    async with casino.database.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(Reward))
    assert count == 2


# local days


async def test_the_day_turns_at_the_members_own_midnight(casino: CasinoWorld) -> None:
    seoul, los_angeles = await casino.member(), await casino.member()
    await fresh(casino, seoul, "Asia/Seoul")
    await fresh(casino, los_angeles, "America/Los_Angeles")
    before = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)  # Seoul 23:30 10th, LA 07:30 10th
    after = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)  # Seoul 00:30 11th, LA 08:30 10th
    for member in (seoul, los_angeles):
        first = await claim(casino, member, before)
        assert (first.day, first.claimed_now, first.streak_day) == (date(2026, 3, 10), True, 1)
    in_seoul = await claim(casino, seoul, after)
    in_los_angeles = await claim(casino, los_angeles, after)
    assert (in_seoul.day, in_seoul.claimed_now, in_seoul.streak_day) == (date(2026, 3, 11), True, 2)
    assert (in_los_angeles.day, in_los_angeles.claimed_now) == (date(2026, 3, 10), False)
    late = await claim(casino, los_angeles, local("America/Los_Angeles", 2026, 3, 11, 0, 5))
    assert (late.day, late.claimed_now, late.streak_day) == (date(2026, 3, 11), True, 2)


async def test_a_time_zone_change_never_claims_a_day_twice(casino: CasinoWorld) -> None:
    member = await casino.member()
    await fresh(casino, member, "Asia/Seoul")
    instant = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)  # Seoul 11th, LA 10th
    assert (await claim(casino, member, instant)).day == date(2026, 3, 11)
    async with casino.database.unit_of_work() as session:
        await rewards.set_time_zone(session, member.user_id, "America/Los_Angeles")
    back = await claim(casino, member, instant)
    assert (back.claimed_now, back.day) == (False, date(2026, 3, 11))
    same = await claim(casino, member, local("America/Los_Angeles", 2026, 3, 11, 9, 0))
    assert same.claimed_now is False
    following = await claim(casino, member, local("America/Los_Angeles", 2026, 3, 12, 9, 0))
    assert (following.claimed_now, following.streak_day) == (True, 2)


async def test_a_streak_across_a_dst_change_counts_calendar_days(casino: CasinoWorld) -> None:
    """Berlin springs forward on 29 March 2026 (02:00 → 03:00): that day has 23 hours."""
    member = await casino.member()
    await fresh(casino, member, "Europe/Berlin")
    berlin = "Europe/Berlin"
    steps = [
        (local(berlin, 2026, 3, 28, 23, 50), True, 1),
        (local(berlin, 2026, 3, 29, 0, 10), True, 2),  # 20 minutes later, the next day
        (local(berlin, 2026, 3, 29, 23, 50), False, 2),  # 22h40 later: the same 23-hour day
        (local(berlin, 2026, 3, 30, 0, 5), True, 3),
        (local(berlin, 2026, 3, 31, 23, 55), True, 4),  # 47h50 later: still the next day
    ]
    for now, claimed_now, streak_day in steps:
        got = await claim(casino, member, now)
        assert (got.claimed_now, got.streak_day) == (claimed_now, streak_day), now
    assert (await view(casino, member, local(berlin, 2026, 4, 1, 12, 0))).current == 4


# shields, the weekly reward, a broken streak


async def test_a_shield_covers_one_missed_day_and_is_used_up(casino: CasinoWorld) -> None:
    member = await casino.member()
    await fresh(casino, member, shields=1)
    await claim(casino, member, local("UTC", 2026, 5, 1, 9, 0))
    await claim(casino, member, local("UTC", 2026, 5, 2, 9, 0))
    preview = await view(casino, member, local("UTC", 2026, 5, 4, 9, 0))  # the 3rd missed
    assert (preview.current, preview.shields, preview.next_rewards[0].streak_day) == (2, 1, 3)
    covered = await claim(casino, member, local("UTC", 2026, 5, 4, 9, 0))
    assert (covered.streak_day, covered.shield_used) == (3, True)
    assert await shields_of(casino, member) == 0
    again = await claim(casino, member, local("UTC", 2026, 5, 6, 9, 0))  # the 5th missed
    assert (again.streak_day, again.shield_used) == (1, False)
    calendar = await view(casino, member, local("UTC", 2026, 5, 6, 10, 0))
    assert [(d.day.day, d.streak_day, d.shield_used) for d in calendar.calendar] == [
        (1, 1, False),
        (2, 2, False),
        (4, 3, True),
        (6, 1, False),
    ]
    assert (calendar.current, calendar.longest) == (1, 3)


async def test_two_missed_days_start_over_and_keep_the_shield(casino: CasinoWorld) -> None:
    member = await casino.member()
    await fresh(casino, member, shields=1)
    await claim(casino, member, local("UTC", 2026, 5, 1, 9, 0))
    await claim(casino, member, local("UTC", 2026, 5, 2, 9, 0))
    broken = await view(casino, member, local("UTC", 2026, 5, 5, 9, 0))
    assert (broken.current, broken.longest, broken.today_claimed) == (0, 2, False)
    assert broken.next_rewards[0].day == date(2026, 5, 5)
    assert broken.next_rewards[0].streak_day == 1
    restart = await claim(casino, member, local("UTC", 2026, 5, 5, 9, 0))
    assert (restart.streak_day, restart.shield_used) == (1, False)
    assert await shields_of(casino, member) == 1


async def test_day_seven_is_the_weekly_reward(casino: CasinoWorld) -> None:
    member = await casino.member()
    await fresh(casino, member)
    got = [await claim(casino, member, local("UTC", 2026, 6, day, 12, 0)) for day in range(1, 9)]
    assert [each.streak_day for each in got] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [each.reward for each in got] == [
        *((RewardKind.COINS, amount, None) for amount in CYCLE_COINS),
        (RewardKind.ITEM, None, STREAK_SHIELD),
        (RewardKind.COINS, CYCLE_COINS[0], None),
    ]
    assert await coins_of(casino, member) == SIGNUP_COINS + sum(CYCLE_COINS) + CYCLE_COINS[0]
    assert await shields_of(casino, member) == 1


async def test_the_calendar_shows_one_month(casino: CasinoWorld) -> None:
    member = await casino.member()
    await fresh(casino, member)
    for day in (date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 1)):
        await claim(casino, member, local("UTC", day.year, day.month, day.day, 12, 0))
    now = local("UTC", 2026, 4, 1, 13, 0)
    march = await view(casino, member, now, month=date(2026, 3, 1))
    april = await view(casino, member, now)
    assert [d.day for d in march.calendar] == [date(2026, 3, 30), date(2026, 3, 31)]
    assert [d.day for d in april.calendar] == [date(2026, 4, 1)]
    assert april.current == 3


# the routes' input


async def test_the_streak_of_another_month_and_bad_months(casino: CasinoWorld) -> None:
    member = await casino.member()
    past = await casino.client.get(f"{API}/rewards/streak?month=2001-02", headers=member.headers)
    assert (past.json()["month"], past.json()["calendar"]) == ("2001-02", [])
    for month in ("2026-13", "2026-1", "26-01", "2026-01-01", "now"):
        answer = await casino.client.get(
            f"{API}/rewards/streak", params={"month": month}, headers=member.headers
        )
        assert_error(answer, 422)


async def test_a_member_sets_their_time_zone(casino: CasinoWorld) -> None:
    member = await casino.member()
    path = f"{API}/users/me/time-zone"
    answer = await casino.client.put(path, json={"time_zone": "Asia/Seoul"}, headers=member.headers)
    assert answer.status_code == 200, answer.text
    seoul_today = utcnow().astimezone(ZoneInfo("Asia/Seoul")).date()
    assert answer.json() == {"time_zone": "Asia/Seoul", "today": seoul_today.isoformat()}
    streak = await casino.client.get(f"{API}/rewards/streak", headers=member.headers)
    assert streak.json()["time_zone"] == "Asia/Seoul"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "unknown_time_zone"),
        ({"time_zone": "../../etc/passwd"}, "unknown_time_zone"),
        ({"time_zone": ""}, "validation_error"),
        ({"time_zone": 9}, "validation_error"),
        ({"time_zone": "UTC", "extra": 1}, "validation_error"),
        ({}, "validation_error"),
    ],
)
async def test_an_unknown_time_zone_is_refused_and_nothing_written(
    casino: CasinoWorld, body: dict[str, Any], code: str
) -> None:
    member = await casino.member()
    before = await snapshot(casino.database, TOUCHED)
    answer = await casino.client.put(f"{API}/users/me/time-zone", json=body, headers=member.headers)
    assert_error(answer, 422, code)
    assert await snapshot(casino.database, TOUCHED) == before
