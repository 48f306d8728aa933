"""VIP tiers: the pure review (upgrade at once, grace, downgrade, late reviews), reviews on
a member's measures with injected time (history, notifications, the job's path, the
on-event path with redelivery), progress to the next tier, and the benefits: the shop's
discount, the daily bonus coins, exclusive gacha banners."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from ensemble.apps.casino import app as casino_app
from ensemble.apps.casino.actions.models import Action
from ensemble.apps.casino.auth import REALM
from ensemble.apps.casino.domain import GEMS
from ensemble.apps.casino.events import AGGREGATE_ACTION, ActionRecorded
from ensemble.apps.casino.gacha.models import Banner
from ensemble.apps.casino.models import User
from ensemble.apps.casino.notifications.models import Notification
from ensemble.apps.casino.rewards import service as rewards
from ensemble.apps.casino.rewards.models import Reward
from ensemble.apps.casino.vip import service as vip
from ensemble.apps.casino.vip.domain import (
    PERIOD,
    Measures,
    Move,
    Standing,
    TierRule,
    missing,
    next_period_end,
    qualified_tier,
    review,
)
from ensemble.apps.casino.vip.models import VipChange, VipStanding
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.events import Envelope
from ensemble.kernel.ledger import service as ledger
from ensemble.kernel.ledger.domain import AccountOwner
from ensemble.kernel.ledger.models import Direction
from tests.apicheck import assert_error
from tests.apps.casino.conftest import API, CasinoWorld, Member
from tests.outboxes import Outboxes

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
RULES = [TierRule(0, 0, 0), TierRule(1, 0, 5), TierRule(2, 100, 10), TierRule(3, 500, 15)]

# the pure rules


def test_the_highest_tier_reached_on_both_measures_and_what_is_missing() -> None:
    assert qualified_tier(RULES, Measures(0, 0)) == 0
    assert qualified_tier(RULES, Measures(0, 12)) == 1  # days alone: no gems, no Silver
    assert qualified_tier(RULES, Measures(600, 12)) == 2
    assert qualified_tier(RULES, Measures(600, 15)) == 3
    assert missing(RULES[2], Measures(40, 12)) == Measures(60, 0)


def test_upgrade_at_once_then_grace_then_downgrade_only_at_period_ends() -> None:
    start = Standing(0, T0 + PERIOD, in_grace=False)
    up, move = review(start, 2, T0 + DAY)
    assert (up, move) == (Standing(2, T0 + DAY + PERIOD, False), Move.UPGRADE)
    assert review(up, 0, T0 + 10 * DAY) == (up, None)  # short, but the period is not over
    end = up.period_ends_at
    grace, move = review(up, 1, end)
    assert (grace, move) == (Standing(2, end + PERIOD, True), Move.GRACE)
    dropped, move = review(grace, 1, end + PERIOD)
    assert (dropped, move) == (Standing(1, end + 2 * PERIOD, False), Move.DOWNGRADE)


def test_reaching_the_tier_again_in_grace_ends_the_grace() -> None:
    grace = Standing(2, T0, in_grace=True)
    kept, move = review(grace, 2, T0)
    assert (kept, move) == (Standing(2, T0 + PERIOD, False), None)
    higher, move = review(grace, 3, T0 - DAY)
    assert (higher.tier, higher.in_grace, move) == (3, False, Move.UPGRADE)


def test_a_late_review_keeps_the_member_calendar() -> None:
    assert next_period_end(T0, T0 - DAY) == T0
    assert next_period_end(T0, T0) == T0 + PERIOD
    assert next_period_end(T0, T0 + PERIOD * 2 + DAY) == T0 + PERIOD * 3


# reviews on real rows, with injected time


async def active_on(casino: CasinoWorld, member: Member, *days: datetime) -> None:
    """An action of the member on each of `days`."""
    async with casino.database.unit_of_work() as session:
        session.add_all(
            Action(id=new_id(), user_id=member.user_id, action_type="PAGE_VIEW", context={},
                   created_at=day)
            for day in days
        )  # fmt: skip


async def spend_gems(casino: CasinoWorld, member: Member, amount: int) -> None:
    """Gems bought, then spent on gacha pulls (now: the ledger is append-only)."""
    owner = AccountOwner(REALM, member.user_id, GEMS)
    async with casino.database.unit_of_work() as session:
        await ledger.post_by_owner(
            session, owner, Direction.EARN, {"amount": amount, "reason": "t"}
        )
        await ledger.spend_by_owner(session, owner, amount=amount, reason="gacha_pull")
        # a refund-like spend is not spending
        await ledger.post_by_owner(session, owner, Direction.EARN, {"amount": 7, "reason": "t"})
        await ledger.spend_by_owner(session, owner, amount=7, reason="shop_refund")


async def run_review(casino: CasinoWorld, member: Member, now: datetime) -> Move | None:
    async with casino.database.unit_of_work() as session:
        return await vip.review(session, member.user_id, now)


async def tier(casino: CasinoWorld, member: Member) -> int:
    async with casino.database.sessionmaker() as session:
        return await vip.tier_of(session, member.user_id)


async def set_tier(casino: CasinoWorld, member: Member, value: int) -> None:
    async with casino.database.unit_of_work() as session:
        await session.execute(
            update(User).where(User.account_id == member.user_id).values(vip_tier=value)
        )


def days_before(now: datetime, count: int) -> list[datetime]:
    return [now - DAY * k - timedelta(hours=1) for k in range(count)]


async def test_a_member_is_upgraded_at_once_notified_and_it_is_in_the_history(
    casino: CasinoWorld,
) -> None:
    member, now = await casino.member(), utcnow() + timedelta(seconds=1)
    await active_on(casino, member, *days_before(now, 10))
    await spend_gems(casino, member, 100)
    async with casino.database.sessionmaker() as session:
        assert await vip.measure(session, member.user_id, now) == Measures(100, 10)
    assert await run_review(casino, member, now) is Move.UPGRADE
    assert await tier(casino, member) == 2
    assert await run_review(casino, member, now) is None  # nothing new: nothing written
    async with casino.database.sessionmaker() as session:
        inbox = (await session.scalars(select(Notification))).all()
    assert [(n.category, n.title, n.data["tier"]) for n in inbox] == [
        ("tier", "Welcome to Silver", 2)
    ]
    history = await casino.client.get(f"{API}/vip/history", headers=member.headers)
    assert history.status_code == 200, history.text
    [change] = history.json()["items"]
    assert (change["from_tier"], change["to_tier"], change["move"]) == (0, 2, "upgrade")
    assert (change["gem_spend"], change["active_days"]) == (100, 10)


async def test_a_member_short_of_the_tier_keeps_it_one_period_then_drops(
    casino: CasinoWorld,
) -> None:
    member, now = await casino.member(), utcnow() + timedelta(seconds=1)
    await active_on(casino, member, *days_before(now, 6))
    assert await run_review(casino, member, now) is Move.UPGRADE  # Bronze: 5 active days
    period_end = now + PERIOD
    assert await run_review(casino, member, period_end - DAY) is None  # short, not at the end
    assert await run_review(casino, member, period_end) is Move.GRACE
    assert await tier(casino, member) == 1
    status = await casino.client.get(f"{API}/vip/status", headers=member.headers)
    assert status.json()["in_grace"] is True
    assert await run_review(casino, member, period_end + DAY) is None  # in grace: no drop yet
    assert await run_review(casino, member, period_end + PERIOD) is Move.DOWNGRADE
    assert await tier(casino, member) == 0
    history = await casino.client.get(f"{API}/vip/history", headers=member.headers)
    assert [c["move"] for c in history.json()["items"]] == ["downgrade", "grace", "upgrade"]
    async with casino.database.sessionmaker() as session:
        titles = await session.scalars(select(Notification.title).order_by(Notification.id))
        assert list(titles) == [
            "Welcome to Bronze",
            "Keep your Bronze tier",
            "Your VIP tier is now Member",
        ]


async def test_active_again_during_grace_keeps_the_tier(casino: CasinoWorld) -> None:
    member, now = await casino.member(), utcnow() + timedelta(seconds=1)
    await active_on(casino, member, *days_before(now, 5))
    await run_review(casino, member, now)
    period_end = now + PERIOD
    assert await run_review(casino, member, period_end) is Move.GRACE
    await active_on(casino, member, *days_before(period_end + PERIOD, 5))
    assert await run_review(casino, member, period_end + PERIOD) is None
    assert await tier(casino, member) == 1
    async with casino.database.sessionmaker() as session:
        standing = await session.get(VipStanding, member.user_id)
        assert standing is not None
        assert (standing.in_grace, standing.period_ends_at) == (False, period_end + 2 * PERIOD)


async def test_the_job_reviews_the_members_whose_period_ended(casino: CasinoWorld) -> None:
    ending, later, now = await casino.member(), await casino.member(), utcnow()
    for member in (ending, later):
        await active_on(casino, member, *days_before(now, 5))
    await run_review(casino, ending, now)
    await run_review(casino, later, now + DAY)
    async with casino.database.unit_of_work() as session:
        assert await vip.review_due(session, now + PERIOD, batch=1) == 1
    async with casino.database.sessionmaker() as session:
        moves = await session.scalars(
            select(VipChange.user_id).where(VipChange.move == Move.GRACE.value)
        )
        assert list(moves) == [ending.user_id]


@pytest.fixture
def outboxes(casino: CasinoWorld, redis: Redis) -> Outboxes:
    return Outboxes(casino.settings, casino.database, redis, [casino_app])


def action_event(member: Member, action_type: str) -> Envelope:
    payload = ActionRecorded(
        action_id=new_id(),
        user_id=member.user_id,
        action_type=action_type,
        context={},
        occurred_at=utcnow(),
    )
    return Envelope.of(payload, aggregate_type=AGGREGATE_ACTION, aggregate_id=str(member.user_id))


async def test_an_action_event_upgrades_once_even_delivered_twice(
    casino: CasinoWorld, outboxes: Outboxes
) -> None:
    member = await casino.member()
    await active_on(casino, member, *days_before(utcnow(), 5))
    event = action_event(member, "PAGE_VIEW")
    await outboxes.deliver(event)
    await outboxes.deliver(event)
    await outboxes.deliver(action_event(member, "PAGE_VIEW"))  # the same day: no review
    assert await tier(casino, member) == 1
    async with casino.database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(VipChange)) == 1


# what a member sees


async def test_status_shows_the_tier_and_what_is_missing_for_the_next(
    casino: CasinoWorld,
) -> None:
    member = await casino.member()
    await active_on(casino, member, *days_before(utcnow(), 3))
    answer = await casino.client.get(f"{API}/vip/status", headers=member.headers)
    assert answer.status_code == 200, answer.text
    status = answer.json()
    assert (status["tier"]["tier"], status["tier"]["name"]) == (0, "Member")
    assert status["measures"] == {"gem_spend": 0, "active_days": 3}
    assert status["next"]["tier"]["name"] == "Bronze"
    assert status["next"]["missing"] == {"gem_spend": 0, "active_days": 2}
    assert (status["period_ends_at"], status["in_grace"]) == (None, False)
    tiers = await casino.client.get(f"{API}/vip/tiers", headers=member.headers)
    assert tiers.json()["period_days"] == 30
    assert [t["name"] for t in tiers.json()["items"]] == [
        "Member", "Bronze", "Silver", "Gold", "Platinum"
    ]  # fmt: skip
    await set_tier(casino, member, 4)
    top = (await casino.client.get(f"{API}/vip/status", headers=member.headers)).json()
    assert (top["tier"]["name"], top["next"]) == ("Platinum", None)


# benefits


async def test_the_daily_login_reward_carries_the_tier_bonus_coins(casino: CasinoWorld) -> None:
    member, silver = await casino.member(), await casino.member()
    await set_tier(casino, silver, 2)
    tomorrow = utcnow() + DAY
    for each in (member, silver):
        async with casino.database.unit_of_work() as session:
            await rewards.daily_login(session, each.user_id, now=tomorrow)
            await rewards.daily_login(session, each.user_id, now=tomorrow)  # once a day
    async with casino.database.sessionmaker() as session:
        bonuses = await session.execute(
            select(Reward.user_id, Reward.amount).where(Reward.reason == "vip_daily_bonus")
        )
        assert list(bonuses) == [(silver.user_id, 50)]


async def add_banner(casino: CasinoWorld, min_vip_tier: int) -> str:
    banner_id = f"vip-{uuid.uuid4().hex[:8]}"
    async with casino.database.unit_of_work() as session:
        session.add(
            Banner(banner_id=banner_id, name="Gold Room", currency=GEMS, cost_single=10,
                   cost_ten=90, hard_pity=50, starts_at=utcnow() - DAY,
                   min_vip_tier=min_vip_tier)
        )  # fmt: skip
    return banner_id


async def test_an_exclusive_banner_is_hidden_and_refused_below_its_tier(
    casino: CasinoWorld,
) -> None:
    banner_id = await add_banner(casino, 3)
    low, gold = await casino.member(), await casino.member()
    await set_tier(casino, gold, 3)
    client = casino.client

    async def listed(member: Member) -> set[str]:
        answer = await client.get(f"{API}/gacha/banners", headers=member.headers)
        return {banner["banner_id"] for banner in answer.json()}

    assert banner_id not in await listed(low)
    assert banner_id in await listed(gold)
    spin = {"banner_id": banner_id, "count": 1}
    rates = f"{API}/gacha/banners/{banner_id}/rates"
    refused = assert_error(await client.get(rates, headers=low.headers), 403, "vip_tier_required")
    assert refused["details"] == {"required": 3, "tier": 0}
    pulled = await client.post(f"{API}/gacha/spin", json=spin, headers=low.headers)
    assert_error(pulled, 403, "vip_tier_required")
    assert (await client.get(rates, headers=gold.headers)).status_code == 200
    # past the tier check: this banner has no rates yet
    pulled = await client.post(f"{API}/gacha/spin", json=spin, headers=gold.headers)
    assert_error(pulled, 409, "no_rate_table")
    status = await client.get(f"{API}/vip/status", headers=gold.headers)
    assert status.json()["exclusive_banners"] == [banner_id]
