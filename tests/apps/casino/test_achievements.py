"""Achievements: progress from `casino.action` events (through the outbox, the relay and the
consumer, in this process), each entry unlocked and rewarded once under duplicate delivery
and concurrent events, hand goals, the catalogue over the API and in the profile."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from ensemble.apps.casino import app as casino_app
from ensemble.apps.casino.achievements import service as achievements
from ensemble.apps.casino.achievements.domain import CATALOGUE, Achievement, by_key, moved_by
from ensemble.apps.casino.achievements.models import AchievementProgress
from ensemble.apps.casino.actions import service as actions
from ensemble.apps.casino.events import AGGREGATE_ACTION, ActionRecorded
from ensemble.kernel.db import new_id
from ensemble.kernel.events import Envelope
from ensemble.kernel.ledger.models import Account as LedgerAccount
from ensemble.kernel.ledger.models import Entry
from tests.apicheck import assert_error
from tests.apps.casino.activity import Play, add_hands
from tests.apps.casino.conftest import API, CasinoWorld, Member
from tests.outboxes import Outboxes

SIGNUP_COINS = 1000


@pytest.fixture
def outboxes(casino: CasinoWorld, redis: Redis) -> Outboxes:
    return Outboxes(casino.settings, casino.database, redis, [casino_app])


def envelope(member: Member, action_type: str) -> Envelope:
    payload = ActionRecorded(
        action_id=new_id(),
        user_id=member.user_id,
        action_type=action_type,
        context={},
        occurred_at=datetime.now(UTC),
    )
    return Envelope.of(payload, aggregate_type=AGGREGATE_ACTION, aggregate_id=str(member.user_id))


async def unlocked(casino: CasinoWorld, member: Member) -> set[str]:
    async with casino.database.unit_of_work() as session:
        return set(await achievements.unlocked_keys(session, member.user_id))


async def rewards(casino: CasinoWorld, member: Member) -> list[str]:
    """The idempotency keys of the member's achievement rewards in the ledger."""
    async with casino.database.unit_of_work() as session:
        keys = await session.scalars(
            select(Entry.idempotency_key)
            .join(LedgerAccount, LedgerAccount.id == Entry.account_id)
            .where(
                LedgerAccount.owner_id == member.user_id,
                Entry.idempotency_key.like("achievement:%"),
            )
        )
        return sorted(key for key in keys if key is not None)


async def coins(casino: CasinoWorld, member: Member) -> int:
    answer = await casino.client.get(f"{API}/auth/me", headers=member.headers)
    balance: int = answer.json()["coins"]
    return balance


# the catalogue


def test_the_catalogue_is_data_with_unique_keys_and_one_goal_each() -> None:
    assert len(by_key()) == len(CATALOGUE)
    assert {each.key for each in moved_by("LOGIN")} == {"first-login", "regular"}
    assert {each.key for each in moved_by("SLOT_SPIN")} >= {"first-spin", "first-win", "big-win"}
    assert moved_by("PAGE_VIEW") == []
    with pytest.raises(ValueError, match="exactly one"):
        Achievement("x", "X", "", 1, 0)
    with pytest.raises(ValueError, match="at least 1"):
        Achievement("x", "X", "", 0, 0, action_type="LOGIN")


# unlocking


async def test_an_action_posted_unlocks_its_achievement_and_pays_once(
    casino: CasinoWorld, outboxes: Outboxes
) -> None:
    member = await casino.member()
    answer = await casino.client.post(
        f"{API}/actions", json={"action_type": "LOGIN"}, headers=member.headers
    )
    assert answer.status_code == 201
    await outboxes.settle()
    assert await unlocked(casino, member) == {"first-login"}
    assert await coins(casino, member) == SIGNUP_COINS + by_key()["first-login"].reward_coins
    assert await rewards(casino, member) == ["achievement:first-login"]


async def test_a_duplicate_delivery_unlocks_and_pays_once(
    casino: CasinoWorld, outboxes: Outboxes
) -> None:
    member = await casino.member()
    event = envelope(member, "LOGIN")
    await outboxes.deliver(event)
    await outboxes.deliver(event)
    await asyncio.gather(*(outboxes.deliver(event) for _ in range(5)))
    assert await unlocked(casino, member) == {"first-login"}
    assert await rewards(casino, member) == ["achievement:first-login"]
    async with casino.database.unit_of_work() as session:
        row = await session.get(AchievementProgress, (member.user_id, "regular"))
        assert row is not None
        assert row.progress == 1  # the same event counted once


async def test_events_at_once_count_each_and_unlock_once(
    casino: CasinoWorld, outboxes: Outboxes
) -> None:
    member = await casino.member()
    regular = by_key()["regular"]
    await asyncio.gather(
        *(outboxes.deliver(envelope(member, "LOGIN")) for _ in range(regular.target + 3))
    )
    assert await unlocked(casino, member) == {"first-login", "regular"}
    assert await rewards(casino, member) == ["achievement:first-login", "achievement:regular"]
    paid = by_key()["first-login"].reward_coins + regular.reward_coins
    assert await coins(casino, member) == SIGNUP_COINS + paid
    async with casino.database.unit_of_work() as session:
        row = await session.get(AchievementProgress, (member.user_id, "regular"))
        assert row is not None
        assert row.progress == regular.target + 3


async def test_concurrent_advances_unlock_once(casino: CasinoWorld) -> None:
    """Without the consumer's duplicate guard: ten transactions at once, one unlock."""
    member = await casino.member()

    async def advance() -> list[str]:
        async with casino.database.unit_of_work() as session:
            return await achievements.advance(session, member.user_id, "SHOP_PURCHASE")

    results = await asyncio.gather(*(advance() for _ in range(10)))
    assert sorted(key for each in results for key in each) == ["first-purchase"]
    assert await rewards(casino, member) == ["achievement:first-purchase"]


async def test_hand_goals_are_measured_on_plays(casino: CasinoWorld, outboxes: Outboxes) -> None:
    member = await casino.member()
    now = datetime.now(UTC)
    await add_hands(casino.database, [Play(member.user_id, 100, 1200, now)])
    async with casino.database.unit_of_work() as session:
        await actions.record_action(session, member.user_id, "SLOT_SPIN", {"bet": 100})
    await outboxes.settle()
    assert await unlocked(casino, member) == {"first-spin", "first-win", "big-win"}
    async with casino.database.unit_of_work() as session:
        played = await session.get(AchievementProgress, (member.user_id, "high-roller"))
        assert played is not None
        assert played.progress == 1


async def test_actions_of_other_types_move_nothing(casino: CasinoWorld, outboxes: Outboxes) -> None:
    member = await casino.member()
    await outboxes.deliver(envelope(member, "PAGE_VIEW"))
    async with casino.database.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(AchievementProgress)) == 0


# reading


async def test_yours_in_full_anothers_unlocked_only_and_in_the_profile(
    casino: CasinoWorld, outboxes: Outboxes
) -> None:
    member, other = await casino.member(), await casino.member()
    await outboxes.deliver(envelope(member, "LOGIN"))
    await outboxes.deliver(envelope(member, "LOGIN"))
    mine = await casino.client.get(
        f"{API}/games/achievements/{member.user_id}", headers=member.headers
    )
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["is_own"] is True
    assert [each["key"] for each in body["items"]] == [each.key for each in CATALOGUE]
    shown = {each["key"]: each for each in body["items"]}
    assert shown["first-login"]["progress"] == 1
    assert shown["first-login"]["unlocked_at"] is not None
    assert (shown["regular"]["progress"], shown["regular"]["unlocked_at"]) == (2, None)
    assert shown["regular"]["action_type"] == "LOGIN"
    assert shown["big-win"]["hand_metric"] == "best_win"
    theirs = await casino.client.get(
        f"{API}/games/achievements/{member.user_id}", headers=other.headers
    )
    assert theirs.json()["is_own"] is False
    assert [each["key"] for each in theirs.json()["items"]] == ["first-login"]
    profile = await casino.client.get(
        f"{API}/users/{member.user_id}/profile", headers=member.headers
    )
    assert profile.json()["achievements"] == ["first-login"]
    missing = await casino.client.get(
        f"{API}/games/achievements/{uuid.uuid4()}", headers=member.headers
    )
    assert_error(missing, 404, "user_not_found")
