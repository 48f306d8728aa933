"""Segments (B1): members' daily figures from action and purchase events (once per event,
never from what a client writes in a context; a rebuild from the tables gives the same
days), and the RFM run: its rules alike in Python and SQL, an incremental run equal to a
full one over the same figures, group changes in the history."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino import app as casino_app
from ensemble.apps.casino.cli import SeedPlan, seed
from ensemble.apps.casino.events import AGGREGATE_ACTION, ActionRecorded
from ensemble.apps.casino.models import User
from ensemble.apps.casino.segments import service as segments
from ensemble.apps.casino.segments.domain import GROUP_RULES, RfmGroup, group_of, group_sql
from ensemble.apps.casino.segments.models import MemberDay, SegmentChange, UserSegment
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.apps.casino.shop.domain import PurchaseStatus
from ensemble.apps.casino.shop.models import Purchase
from ensemble.kernel.db import Database, new_id
from ensemble.kernel.db.raw import own_connection
from ensemble.kernel.events import Envelope
from tests.apps.casino.conftest import API, CasinoWorld
from tests.apps.casino.shopkit import ShopWorld, paid
from tests.outboxes import Outboxes

RULES = segments.rules_of(CasinoSettings())
NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def outboxes(casino: CasinoWorld, redis: Redis) -> Outboxes:
    return Outboxes(casino.settings, casino.database, redis, [casino_app])


# the rules


async def test_the_rules_score_alike_in_python_and_in_sql(casino: CasinoWorld) -> None:
    ages = [0, 1, 2, 3, 4, 7, 8, 14, 15, 40]
    days = [0, 1, 2, 3, 4, 8, 15, 30]
    money = [0, 1, 499, 500, 1999, 2000, 9999, 10000, 50000, 123457]
    grid = [(age, active, cents) for age in ages for active in days for cents in money]
    as_of = NOW.date()
    rows = ", ".join(
        f"(DATE '{as_of - timedelta(days=age)}', {active}, {cents})" for age, active, cents in grid
    )
    query = f"""
        SELECT r, f, m, ltv_score, {group_sql()} AS rfm_group FROM (
            SELECT {RULES.r_sql()} AS r, {RULES.f_sql()} AS f, {RULES.m_sql()} AS m,
                {RULES.ltv_sql()} AS ltv_score
            FROM (VALUES {rows}) AS v(last_active_on, active_days, money_cents)
        ) scored
    """
    async with casino.database.sessionmaker() as session:
        found = (await session.execute(text(query), {"as_of": as_of})).all()
    expected = []
    for age, active, cents in grid:
        r, f, m = RULES.r(as_of - timedelta(days=age), as_of), RULES.f(active), RULES.m(cents)
        expected.append((r, f, m, RULES.ltv_score(cents), group_of(r, f, m).value))
    assert [tuple(row) for row in found] == expected
    assert {row.rfm_group for row in found} == set(RfmGroup)


def test_non_payers_are_never_whales_and_the_rules_fall_back_to_low() -> None:
    assert all(rule.min_m > 0 for rule in GROUP_RULES if rule.group is RfmGroup.WHALE)
    assert group_of(5, 5, 0) is RfmGroup.HIGH_ENGAGED
    assert group_of(5, 5, 5) is RfmGroup.WHALE
    assert group_of(1, 1, 0) is RfmGroup.LOW_AT_RISK


# daily figures


async def days_of(database: Database) -> list[tuple[Any, ...]]:
    async with database.sessionmaker() as session:
        found = await session.execute(select(MemberDay).order_by(MemberDay.user_id, MemberDay.day))
        return [
            (d.user_id, d.day, d.actions, d.hands, d.coins_bet, d.coins_won, d.gems_spent,
             d.money_cents, d.purchases, d.last_activity_at)
            for d in found.scalars()
        ]  # fmt: skip


async def test_figures_come_from_events_once_and_a_rebuild_gives_the_same_days(
    casino: CasinoWorld, outboxes: Outboxes
) -> None:
    shop = ShopWorld(casino)
    member, other = await casino.member(), await casino.member()
    spun = await casino.client.post(
        f"{API}/games/slot/spin", json={"bet": 10}, headers=member.headers
    )
    assert spun.status_code == 200, spun.text
    bought = await shop.buy(member, "gems-100")
    assert (await shop.webhook(paid(bought.json()))).status_code == 200
    hand_id = spun.json()["hand_id"]
    forged = {"action_type": "SLOT_SPIN", "context": {"hand_id": hand_id, "bet": 10**9}}
    posted = await casino.client.post(f"{API}/actions", json=forged, headers=other.headers)
    assert posted.status_code == 201, posted.text
    await outboxes.settle()

    days = {row[0]: row for row in await days_of(casino.database)}
    assert days[member.user_id][3:9] == (1, 10, spun.json()["win"], 0, 99, 1)
    assert days[other.user_id][2:9] == (1, 0, 0, 0, 0, 0, 0)  # an action, no hand, no bet
    before = await days_of(casino.database)

    again = ActionRecorded(
        action_id=new_id(), user_id=member.user_id, action_type="PAGE_VIEW", context={},
        occurred_at=datetime.now(UTC),
    )  # fmt: skip
    envelope = Envelope.of(again, aggregate_type=AGGREGATE_ACTION, aggregate_id=str(member.user_id))
    await outboxes.deliver(envelope)
    await outboxes.deliver(envelope)  # redelivered: counted once
    after = {row[0]: row for row in await days_of(casino.database)}
    assert after[member.user_id][2] == days[member.user_id][2] + 1

    async with casino.database.unit_of_work() as session:
        await segments.rebuild_aggregates(session)
    rebuilt = {row[0]: row for row in await days_of(casino.database)}
    assert rebuilt[other.user_id] == after[other.user_id]
    # the redelivered envelope was never stored as an action: the rebuild has one less
    assert rebuilt[member.user_id][3:9] == after[member.user_id][3:9]
    assert rebuilt[member.user_id][2] == after[member.user_id][2] - 1
    assert {row[0] for row in before} == set(rebuilt)


# the RFM run


async def members(database: Database, count: int) -> list[uuid.UUID]:
    async with own_connection(database.engine) as connection:
        await seed(connection, SeedPlan(members=count), lambda _: None)
    async with database.sessionmaker() as session:
        return list(await session.scalars(select(User.account_id).order_by(User.account_id)))


def action(user_id: uuid.UUID, at: datetime) -> ActionRecorded:
    return ActionRecorded(
        action_id=new_id(), user_id=user_id, action_type="PAGE_VIEW", context={}, occurred_at=at
    )


async def pay(session: AsyncSession, user_id: uuid.UUID, cents: int, at: datetime) -> None:
    purchase = Purchase(
        id=new_id(), user_id=user_id, product_id="gems-100", quantity=1,
        idempotency_key=uuid.uuid4().hex, status=PurchaseStatus.FULFILLED, price_currency="USD",
        unit_price=cents, amount=cents, contents={}, created_at=at, updated_at=at,
        paid_at=at, fulfilled_at=at,
    )  # fmt: skip
    session.add(purchase)
    await session.flush()
    await segments.add_purchase(session, purchase.id)


async def live(database: Database, rng: random.Random, ids: list[uuid.UUID], start: datetime,
               days: int) -> None:  # fmt: skip
    """Random activity of `ids` over `days` days from `start`, added as the consumer adds
    events: some members busy, some paying, some idle."""

    def instant() -> datetime:
        return start + timedelta(seconds=rng.uniform(0, days * 86400))

    async with database.unit_of_work() as session:
        for user_id in ids:
            for _ in range(rng.choice([0, 1, 3, 10, 25])):
                await segments.add_action(session, action(user_id, instant()))
            if rng.random() < 0.3:
                await pay(session, user_id, rng.choice([99, 499, 2500, 12000, 60000]), instant())


async def segments_of(database: Database) -> dict[uuid.UUID, tuple[Any, ...]]:
    async with database.sessionmaker() as session:
        rows = (await session.scalars(select(UserSegment))).all()
    return {
        s.user_id: (s.rfm_group, s.r, s.f, s.m, s.ltv_score, s.last_active_on, s.active_days,
                    s.money_cents)
        for s in rows
    }  # fmt: skip


async def rfm(database: Database, now: datetime, *, full: bool = False) -> segments.RfmReport:
    async with database.unit_of_work() as session:
        return await segments.run_rfm(session, RULES, now=now, full=full)


async def test_an_incremental_run_equals_a_full_one_over_the_same_figures(
    casino: CasinoWorld,
) -> None:
    database, rng = casino.database, random.Random(13)
    ids = await members(database, 60)
    first = NOW - timedelta(days=10)
    await live(database, rng, ids, first - timedelta(days=45), 45)
    report = await rfm(database, first)
    assert report.full
    assert report.touched == report.moved > 0

    await live(database, rng, rng.sample(ids, 12), first, 10)
    incremental = await rfm(database, NOW)
    assert not incremental.full
    assert 0 < incremental.touched < report.touched  # only the changed and the crossed
    scored = await segments_of(database)

    full = await rfm(database, NOW, full=True)
    assert full.changed == 0  # nothing the incremental run left stale
    assert await segments_of(database) == scored
    for group, r, f, m, *_ in scored.values():
        assert {r, f} <= set(range(1, 6))
        assert m in range(6)
        assert group is group_of(r, f, m)

    async with database.sessionmaker() as session:
        changes = (await session.scalars(select(SegmentChange))).all()
    assert len(changes) == report.moved + incremental.moved
    assert all(c.from_group != c.to_group for c in changes)
    assert sum(c.from_group is None for c in changes) == len(scored)  # first placements


async def test_recency_alone_moves_a_member_on_a_later_day(casino: CasinoWorld) -> None:
    database = casino.database
    (user_id,) = await members(database, 1)
    async with database.unit_of_work() as session:
        for day in range(16):  # busy for 16 days, until the day before NOW - 10
            await segments.add_action(session, action(user_id, NOW - timedelta(days=26 - day)))
    await rfm(database, NOW - timedelta(days=10))
    before = (await segments_of(database))[user_id]
    assert before[0] is RfmGroup.HIGH_ENGAGED

    later = await rfm(database, NOW)  # no new figures: only the days since changed
    assert later.touched == 1
    after = (await segments_of(database))[user_id]
    assert after[:3] == (RfmGroup.LOW_AT_RISK, 2, 5)  # 11 days idle; as frequent
