"""Missions: progress from `casino.action` events (context filters, redelivery), the list
with your progress, a claim rewarded once under concurrency, windows starting again
(injected time), and the admin's definitions (validation, audit, deactivation)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from ensemble.apps.casino import app as casino_app
from ensemble.apps.casino.audit.models import AuditEntry
from ensemble.apps.casino.domain import Rank
from ensemble.apps.casino.events import AGGREGATE_ACTION, ActionRecorded
from ensemble.apps.casino.missions import service as missions
from ensemble.apps.casino.missions.domain import Goal, Window, window_ends, window_label
from ensemble.apps.casino.missions.models import Mission, MissionProgress
from ensemble.apps.casino.rewards.models import Reward
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.events import Envelope
from ensemble.kernel.pagination import PageRequest
from tests.apicheck import assert_error, snapshot
from tests.apps.casino.conftest import API, CasinoWorld, Member
from tests.outboxes import Outboxes

MONDAY = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)


def test_windows_and_context_filters() -> None:
    assert window_label(Window.DAILY, MONDAY) == "day:2026-12-07"
    assert window_label(Window.WEEKLY, MONDAY + timedelta(days=6)) == "week:2026-W50"
    assert window_label(Window.ONCE, MONDAY) == "once"
    assert window_ends(Window.DAILY, MONDAY) == datetime(2026, 12, 8, tzinfo=UTC)
    assert window_ends(Window.WEEKLY, MONDAY) == datetime(2026, 12, 14, tzinfo=UTC)
    assert window_ends(Window.ONCE, MONDAY) is None
    big = Goal("SLOT_SPIN", 20, "bet", 100)
    assert big.counts("SLOT_SPIN", {"bet": 100})
    assert big.counts("SLOT_SPIN", {"bet": 250.5})
    for context in ({"bet": 99}, {}, {"bet": "500"}, {"bet": True}, {"bet": None}):
        assert not big.counts("SLOT_SPIN", context)
    assert not big.counts("GACHA_SPIN", {"bet": 500})


@pytest.fixture
def outboxes(casino: CasinoWorld, redis: Redis) -> Outboxes:
    return Outboxes(casino.settings, casino.database, redis, [casino_app])


def event(
    member: Member,
    action_type: str,
    context: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Envelope:
    payload = ActionRecorded(
        action_id=new_id(),
        user_id=member.user_id,
        action_type=action_type,
        context=context or {},
        occurred_at=at or utcnow(),
    )
    return Envelope.of(payload, aggregate_type=AGGREGATE_ACTION, aggregate_id=str(member.user_id))


async def listed(casino: CasinoWorld, member: Member) -> dict[str, dict[str, Any]]:
    answer = await casino.client.get(f"{API}/missions", headers=member.headers)
    assert answer.status_code == 200, answer.text
    return {each["key"]: each for each in answer.json()["items"]}


async def claim(casino: CasinoWorld, member: Member, key: str) -> Any:
    return await casino.client.post(f"{API}/missions/{key}/claim", headers=member.headers)


async def test_actions_move_the_missions_they_fit_once_per_event(
    casino: CasinoWorld, outboxes: Outboxes
) -> None:
    member = await casino.member()
    high = event(member, "SLOT_SPIN", {"bet": 150})
    for each in (high, high, event(member, "SLOT_SPIN", {"bet": 10}), event(member, "LOGIN")):
        await outboxes.deliver(each)  # `high` twice: a redelivery counts once
    mine = await listed(casino, member)
    assert list(mine) == [
        "daily-login", "daily-spins", "weekly-high-roller", "weekly-pulls", "first-purchase"
    ]  # fmt: skip
    progress = {key: (each["progress"], each["completed"]) for key, each in mine.items()}
    assert progress["daily-spins"] == (2, False)
    assert progress["weekly-high-roller"] == (1, False)
    assert progress["daily-login"] == (1, True)
    assert mine["daily-login"]["window_id"] == window_label(Window.DAILY, utcnow())
    assert mine["weekly-high-roller"]["reward"] == {
        "kind": "item", "amount": None, "item_id": "streak-shield", "quantity": 1
    }  # fmt: skip


async def test_a_claim_is_rewarded_once_even_when_claims_race(
    casino: CasinoWorld, outboxes: Outboxes
) -> None:
    member = await casino.member()
    assert_error(await claim(casino, member, "daily-login"), 409, "mission_not_completed")
    await outboxes.deliver(event(member, "LOGIN"))
    answers = await asyncio.gather(*(claim(casino, member, "daily-login") for _ in range(12)))
    assert sorted(answer.status_code for answer in answers) == [200] + [409] * 11
    for answer in answers:
        if answer.status_code == 409:
            assert_error(answer, 409, "mission_already_claimed")
        else:
            claimed = answer.json()
            assert (claimed["reward"]["kind"], claimed["reward"]["amount"]) == ("coins", 50)
            key = f"mission:daily-login:{window_label(Window.DAILY, utcnow())}"
            assert claimed["reward"]["idempotency_key"] == key
            assert claimed["mission"]["claimed_at"] is not None
    async with casino.database.sessionmaker() as session:
        granted = await session.scalar(
            select(func.count()).select_from(Reward).where(Reward.reason == "mission")
        )
        assert granted == 1
    assert (await listed(casino, member))["daily-login"]["claimed_at"] is not None


async def test_a_daily_window_starts_again_the_next_day(casino: CasinoWorld) -> None:
    member = await casino.member()
    async with casino.database.unit_of_work() as session:
        await missions.advance(session, member.user_id, "LOGIN", {}, MONDAY)
        await missions.claim(session, member.user_id, "daily-login", MONDAY + timedelta(minutes=5))
    tuesday = MONDAY + timedelta(hours=1)
    async with casino.database.sessionmaker() as session:
        page = await missions.missions_of(session, member.user_id, tuesday, PageRequest(None, 50))
        daily = next(each for each in page.items if each.mission.key == "daily-login")
        assert (daily.window, daily.progress, daily.claimed_at) == ("day:2026-12-08", 0, None)
        with pytest.raises(missions.MissionNotCompleted):
            await missions.claim(session, member.user_id, "daily-login", tuesday)
    async with casino.database.unit_of_work() as session:
        await missions.advance(session, member.user_id, "LOGIN", {}, tuesday)
        again = await missions.claim(session, member.user_id, "daily-login", tuesday)
        assert again.reward.idempotency_key == "mission:daily-login:day:2026-12-08"


async def test_claims_of_unknown_missions_are_404_and_bad_keys_422(casino: CasinoWorld) -> None:
    member = await casino.member()
    assert_error(await claim(casino, member, "no-such-mission"), 404, "mission_not_found")
    assert_error(await claim(casino, member, "Bad Key!"), 422, "validation_error")


# admin

NEW = {
    "key": "weekend-pulls",
    "title": "Weekend pulls",
    "action_type": "GACHA_SPIN",
    "target": 3,
    "window": "weekly",
    "reward_kind": "coins",
    "reward_amount": 120,
}


async def test_admins_define_change_and_withdraw_missions_audited(
    casino: CasinoWorld, outboxes: Outboxes
) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    client, base = casino.client, f"{API}/admin/missions"
    created = await client.post(base, json=NEW, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert (created.json()["window"], created.json()["is_active"]) == ("weekly", True)
    assert_error(await client.post(base, json=NEW, headers=admin.headers), 409, "mission_exists")
    changed = await client.patch(
        f"{base}/weekend-pulls",
        json={"target": 1, "context_key": "count", "context_min": 10},
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.text
    await outboxes.deliver(event(member, "GACHA_SPIN", {"count": 1}))
    await outboxes.deliver(event(member, "GACHA_SPIN", {"count": 10}))
    assert (await listed(casino, member))["weekend-pulls"]["progress"] == 1
    withdrawn = await client.delete(f"{base}/weekend-pulls", headers=admin.headers)
    assert withdrawn.status_code == 204
    assert "weekend-pulls" not in await listed(casino, member)
    assert_error(await claim(casino, member, "weekend-pulls"), 404, "mission_not_found")
    one = await client.get(f"{base}/weekend-pulls", headers=admin.headers)
    assert one.json()["is_active"] is False
    every = await client.get(base, params={"limit": 100}, headers=admin.headers)
    assert "weekend-pulls" in {each["key"] for each in every.json()["items"]}
    async with casino.database.sessionmaker() as session:
        actions = await session.scalars(select(AuditEntry.action).order_by(AuditEntry.at))
        assert list(actions) == ["mission.create", "mission.update", "mission.delete"]


BAD_DEFINITIONS: list[tuple[dict[str, Any], int, str]] = [
    ({**NEW, "context_key": "bet"}, 422, "invalid_mission"),
    ({**NEW, "reward_kind": "gems"}, 422, "invalid_mission"),
    ({**NEW, "reward_item_id": "streak-shield"}, 422, "invalid_reward"),
    ({**NEW, "action_type": "NO_SUCH_TYPE"}, 422, "unknown_action_type"),
    ({**NEW, "reward_kind": "item", "reward_amount": None, "reward_item_id": "nope",
      "reward_quantity": 1}, 404, "item_not_found"),
    ({**NEW, "window": "monthly"}, 422, "validation_error"),
    ({**NEW, "target": 0}, 422, "validation_error"),
    ({**NEW, "surprise": 1}, 422, "validation_error"),
]  # fmt: skip
BAD_CHANGES: list[tuple[dict[str, Any], int, str]] = [
    ({}, 422, "validation_error"),
    ({"title": None}, 422, "validation_error"),
    ({"context_min": 5}, 422, "invalid_mission"),
    ({"reward_kind": "item"}, 422, "invalid_reward"),
]


async def test_bad_definitions_and_changes_write_nothing(casino: CasinoWorld) -> None:
    admin = await casino.member(Rank.ADMIN)
    tables = ["casino.missions", "casino.audit_log"]
    before = await snapshot(casino.database, tables)
    for body, status, code in BAD_DEFINITIONS:
        answer = await casino.client.post(f"{API}/admin/missions", json=body, headers=admin.headers)
        assert_error(answer, status, code)
    path = f"{API}/admin/missions/daily-spins"
    for body, status, code in BAD_CHANGES:
        assert_error(
            await casino.client.patch(path, json=body, headers=admin.headers), status, code
        )
    missing = f"{API}/admin/missions/nope"
    assert_error(
        await casino.client.patch(missing, json={"target": 2}, headers=admin.headers),
        404,
        "mission_not_found",
    )
    assert await snapshot(casino.database, tables) == before
    async with casino.database.sessionmaker() as session:
        assert (await session.get(Mission, "daily-spins")) is not None
        assert await session.scalar(select(func.count()).select_from(MissionProgress)) == 0
