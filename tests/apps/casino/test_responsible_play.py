"""Responsible play (B2): limits (tighter at once, looser a day later), cool-off and
self-exclusion (never shortened; they refuse bets, pulls and purchases, not reading), the
charge every play goes through (exact under concurrency, in the member's days), and reality
checks (once per interval)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from ensemble.apps.casino.domain import COINS, NotificationCategory
from ensemble.apps.casino.limits import domain
from ensemble.apps.casino.limits import service as limits
from ensemble.apps.casino.limits.domain import LimitKey, LimitKind, LimitPeriod, LimitState
from ensemble.apps.casino.models import User
from ensemble.apps.casino.notifications.models import Notification
from ensemble.apps.casino.sessions.models import GameSession
from ensemble.kernel.ledger.models import Entry
from tests.apicheck import assert_error, snapshot, tables_of
from tests.apps.casino.conftest import API, CasinoWorld, Member

RP = f"{API}/responsible-play"
T0 = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)  # a Wednesday
DAY_COINS = LimitKey(LimitKind.SPEND, LimitPeriod.DAY, COINS)


def limit(kind: str, period: str, currency: str, amount: int) -> dict[str, Any]:
    return {"kind": kind, "period": period, "currency": currency, "amount": amount}


async def put_limits(casino: CasinoWorld, member: Member, *limits_: dict[str, Any]) -> Any:
    response = await casino.client.put(
        f"{RP}/limits", json={"limits": list(limits_)}, headers=member.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def spin(casino: CasinoWorld, member: Member, bet: int = 10) -> Any:
    return await casino.client.post(
        f"{API}/games/slot/spin", json={"bet": bet}, headers=member.headers
    )


# the pure rules


def test_a_tighter_limit_applies_at_once_and_a_looser_one_a_day_later() -> None:
    in_force = LimitState(100)
    assert domain.change(LimitState(None), 500, T0) == LimitState(500)  # a new limit
    assert domain.change(in_force, 50, T0) == LimitState(50)
    raised = domain.change(in_force, 500, T0)
    assert raised == LimitState(100, 500, T0 + timedelta(hours=24))
    assert domain.change(raised, 500, T0 + timedelta(hours=3)) == raised  # keeps its time
    assert domain.change(raised, 100, T0 + timedelta(hours=3)) == LimitState(100)  # cancelled
    removed = domain.change(in_force, None, T0)
    assert removed == LimitState(100, None, T0 + timedelta(hours=24))
    assert removed.at(T0 + timedelta(hours=24)).empty
    assert raised.at(T0 + timedelta(hours=24) - timedelta(seconds=1)).amount == 100
    assert raised.at(T0 + timedelta(hours=24)).amount == 500


def test_a_cool_off_or_exclusion_only_gets_longer() -> None:
    week = T0 + timedelta(days=7)
    assert domain.extended_end(week, permanent=False, span=timedelta(days=30), now=T0) == (
        T0 + timedelta(days=30)
    )
    with pytest.raises(ValueError, match="shorter"):
        domain.extended_end(week, permanent=False, span=timedelta(hours=24), now=T0)
    with pytest.raises(ValueError, match="shorter"):
        domain.extended_end(None, permanent=True, span=timedelta(days=366), now=T0)
    assert domain.extended_end(week, permanent=False, span=None, now=T0) is None
    past = T0 - timedelta(days=1)  # over: anything goes
    assert domain.extended_end(past, permanent=False, span=timedelta(hours=24), now=T0)


def test_days_follow_the_members_time_zone() -> None:
    seoul = domain.play_days(datetime(2026, 12, 13, 15, 30, tzinfo=UTC), "Asia/Seoul")
    assert str(seoul.day) == "2026-12-14"  # Monday 00:30 in Seoul, Sunday in UTC
    assert seoul.week == seoul.day
    assert domain.play_days(datetime(2026, 12, 13, 15, 30, tzinfo=UTC), "UTC").week.day == 7


# limits through the API and the service


async def test_a_raise_is_pending_for_24_hours(casino: CasinoWorld) -> None:
    member = await casino.member()
    shown = await put_limits(casino, member, limit("spend", "day", "coins", 100))
    assert shown["limits"] == [
        {**limit("spend", "day", "coins", 100), "pending": None, "used": 0, "remaining": 100}
    ]
    shown = await put_limits(casino, member, limit("spend", "day", "coins", 500))
    (raised,) = shown["limits"]
    assert raised["amount"] == 100
    assert raised["pending"]["amount"] == 500
    async with casino.database.unit_of_work() as session:
        pending_at = (await limits.limit_states(session, member.user_id, datetime.now(UTC)))[
            DAY_COINS
        ].pending_at
        assert pending_at is not None
        later = await limits.limit_states(session, member.user_id, pending_at)
        before = await limits.limit_states(session, member.user_id, pending_at - timedelta(1e-3))
    assert later[DAY_COINS] == LimitState(500)
    assert before[DAY_COINS].amount == 100
    shown = await put_limits(casino, member)  # removing waits too
    assert shown["limits"][0]["amount"] == 100
    assert shown["limits"][0]["pending"]["amount"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"limits": [limit("session_time", "day", "coins", 30)]},
        {"limits": [limit("loss", "week", "USD", 30)]},
        {"limits": [limit("spend", "day", "coins", 1), limit("spend", "day", "coins", 2)]},
        {"limits": [limit("spend", "month", "coins", 1)]},
        {"limits": [limit("spend", "day", "coins", -1)]},
        {"limits": [], "extra": 1},
    ],
)
async def test_bad_limits_are_refused_and_write_nothing(
    casino: CasinoWorld, body: dict[str, Any]
) -> None:
    member = await casino.member()
    tables = await tables_of(casino.database, "casino")
    before = await snapshot(casino.database, tables)
    response = await casino.client.put(f"{RP}/limits", json=body, headers=member.headers)
    assert_error(response, 422)
    assert await snapshot(casino.database, tables) == before


async def test_fifty_parallel_bets_at_the_edge_never_pass_the_limit(casino: CasinoWorld) -> None:
    member = await casino.member()
    await put_limits(casino, member, limit("spend", "day", "coins", 255))
    answers = await asyncio.gather(*(spin(casino, member) for _ in range(50)))
    accepted = [a for a in answers if a.status_code == 200]
    assert len(accepted) == 25
    for refused in (a for a in answers if a.status_code != 200):
        error = assert_error(refused, 409, "limit_reached")
        assert error["details"]["kind"] == "spend"
        assert error["details"]["remaining"] < 10
    async with casino.database.unit_of_work() as session:
        bets = await session.scalar(
            select(func.coalesce(func.sum(Entry.amount), 0)).where(Entry.reason == "slot_bet")
        )
    assert bets == 250
    shown = (await casino.client.get(f"{RP}/limits", headers=member.headers)).json()
    assert shown["limits"][0]["used"] == 250
    assert shown["limits"][0]["remaining"] == 5


async def test_purchases_count_against_spend_limits(casino: CasinoWorld) -> None:
    member = await casino.member()
    await put_limits(casino, member, limit("spend", "week", "coins", 805))
    assert (await spin(casino, member, 5)).status_code == 200
    buy = {"product_id": "shield-pack", "idempotency_key": "rp-1"}
    bought = await casino.client.post(f"{API}/shop/buy", json=buy, headers=member.headers)
    assert bought.status_code == 201, bought.text
    assert_error(await spin(casino, member, 1), 409, "limit_reached")


async def test_the_loss_limit_counts_wins_and_the_day_is_local(casino: CasinoWorld) -> None:
    member = await casino.member()
    user = member.user_id
    async with casino.database.unit_of_work() as session:
        await session.execute(
            update(User).where(User.account_id == user).values(time_zone="Asia/Seoul")
        )
        key = LimitKey(LimitKind.LOSS, LimitPeriod.DAY, COINS)
        await limits.set_limits(session, user, [(key, 100)], T0)
    late = datetime(2026, 12, 9, 14, 50, tzinfo=UTC)  # 23:50 in Seoul
    async with casino.database.unit_of_work() as session:
        await limits.charge_play(session, user, spent=60, currency=COINS, now=late)
        await limits.charge_play(session, user, spent=40, won=50, currency=COINS, now=late)
        await limits.charge_play(session, user, spent=50, currency=COINS, now=late)  # lost 100
    async with casino.database.unit_of_work() as session:
        with pytest.raises(limits.LimitReached) as refused:
            await limits.charge_play(session, user, spent=1, currency=COINS, now=late)
    assert refused.value.details["remaining"] == 0
    async with casino.database.unit_of_work() as session:  # purchases are no losses
        await limits.charge_play(session, user, spent=7, currency=COINS, now=late, bet=False)
        next_day = late + timedelta(minutes=20)  # 00:10 in Seoul, still the 9th in UTC
        await limits.charge_play(session, user, spent=100, currency=COINS, now=next_day)


def _zone_well_into_its_day() -> str:
    """A time zone whose local day began over an hour ago: 31 minutes of play all fall in
    it, whenever the test runs (their midnights are at least 7 hours apart)."""
    now = datetime.now(UTC)
    zones = ("UTC", "Asia/Seoul", "America/Los_Angeles")
    return next(zone for zone in zones if now.astimezone(ZoneInfo(zone)).hour >= 1)


async def test_the_session_time_limit_counts_game_sessions(casino: CasinoWorld) -> None:
    member = await casino.member()
    async with casino.database.unit_of_work() as session:
        zone = _zone_well_into_its_day()
        await session.execute(
            update(User).where(User.account_id == member.user_id).values(time_zone=zone)
        )
    await put_limits(casino, member, limit("session_time", "day", "minutes", 30))
    started = await casino.client.post(
        f"{API}/games/session/start", json={"game_type": "slot"}, headers=member.headers
    )
    assert started.status_code == 201, started.text
    assert (await spin(casino, member)).status_code == 200
    async with casino.database.unit_of_work() as session:
        await session.execute(
            update(GameSession)
            .where(GameSession.user_id == member.user_id)
            .values(started_at=func.now() - timedelta(minutes=31))
        )
    error = assert_error(await spin(casino, member), 409, "limit_reached")
    assert error["details"]["kind"] == "session_time"
    assert error["details"]["used"] >= 30


# cool-off and self-exclusion


async def test_a_cool_off_refuses_play_and_cannot_be_shortened(casino: CasinoWorld) -> None:
    member = await casino.member()
    on = await casino.client.post(f"{RP}/cool-off", json={"duration": "7d"}, headers=member.headers)
    assert on.status_code == 200, on.text
    until = on.json()["cool_off_until"]
    shorter = await casino.client.post(
        f"{RP}/cool-off", json={"duration": "24h"}, headers=member.headers
    )
    assert_error(shorter, 409, "cannot_shorten")
    assert_error(await spin(casino, member), 403, "cooling_off")
    pull = await casino.client.post(
        f"{API}/gacha/spin", json={"banner_id": "standard", "count": 1}, headers=member.headers
    )
    assert_error(pull, 403, "cooling_off")
    buy = {"product_id": "shield-pack", "idempotency_key": "rp-2"}
    assert_error(
        await casino.client.post(f"{API}/shop/buy", json=buy, headers=member.headers),
        403,
        "cooling_off",
    )
    await casino.login(member.nickname)  # logging in and reading still work
    assert (await casino.client.get(f"{API}/auth/me", headers=member.headers)).json()[
        "coins"
    ] == 1000
    longer = await casino.client.post(
        f"{RP}/cool-off", json={"duration": "30d"}, headers=member.headers
    )
    assert longer.status_code == 200
    assert longer.json()["cool_off_until"] > until


async def test_a_permanent_self_exclusion_is_for_ever(casino: CasinoWorld) -> None:
    member = await casino.member()
    excluded = await casino.client.post(
        f"{RP}/self-exclusion", json={"duration": "6m"}, headers=member.headers
    )
    assert excluded.json()["self_excluded_until"] is not None
    forever = await casino.client.post(
        f"{RP}/self-exclusion", json={"duration": "permanent"}, headers=member.headers
    )
    assert forever.json()["self_excluded_permanently"] is True
    assert forever.json()["self_excluded_until"] is None
    for duration in ("6m", "1y"):
        again = await casino.client.post(
            f"{RP}/self-exclusion", json={"duration": duration}, headers=member.headers
        )
        assert_error(again, 409, "cannot_shorten")
    assert_error(await spin(casino, member), 403, "self_excluded")


# reality checks


async def _reality_checks(casino: CasinoWorld, user_id: uuid.UUID) -> list[Notification]:
    async with casino.database.unit_of_work() as session:
        rows = await session.scalars(
            select(Notification).where(
                Notification.user_id == user_id,
                Notification.category == NotificationCategory.RESPONSIBLE_PLAY.value,
            )
        )
        return list(rows)


async def _session_began(casino: CasinoWorld, user_id: uuid.UUID, minutes_ago: int) -> None:
    async with casino.database.unit_of_work() as session:
        await session.execute(
            update(GameSession)
            .where(GameSession.user_id == user_id)
            .values(started_at=func.now() - timedelta(minutes=minutes_ago))
        )


async def test_a_reality_check_comes_once_per_interval(casino: CasinoWorld) -> None:
    member = await casino.member()
    await casino.client.post(
        f"{API}/games/session/start", json={"game_type": "slot"}, headers=member.headers
    )
    assert (await spin(casino, member)).status_code == 200
    assert await _reality_checks(casino, member.user_id) == []
    await _session_began(casino, member.user_id, 61)
    for _ in range(3):
        assert (await spin(casino, member)).status_code == 200
    (check,) = await _reality_checks(casino, member.user_id)
    assert check.data["minutes"] == 61
    assert set(check.data["net_result"]) == {COINS}
    await _session_began(casino, member.user_id, 125)
    await asyncio.gather(*(spin(casino, member) for _ in range(4)))
    assert len(await _reality_checks(casino, member.user_id)) == 2
    off = await casino.client.put(
        f"{RP}/reality-check", json={"interval_minutes": None}, headers=member.headers
    )
    assert off.json()["reality_check_minutes"] is None
    await _session_began(casino, member.user_id, 200)
    assert (await spin(casino, member)).status_code == 200
    assert len(await _reality_checks(casino, member.user_id)) == 2
