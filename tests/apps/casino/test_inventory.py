"""The inventory: grants add up under concurrency, the last item is taken once, and
`GET /api/inventory` shows items with their catalogue entries and the shards apart."""

from __future__ import annotations

import asyncio

import pytest

from ensemble.apps.casino.domain import SHARDS, STREAK_SHIELD
from ensemble.apps.casino.inventory import service as inventory
from ensemble.apps.casino.inventory.service import ItemNotFound, NotEnoughItems
from tests.apicheck import assert_error
from tests.apps.casino.conftest import API, CasinoWorld


async def test_concurrent_grants_add_up(casino: CasinoWorld) -> None:
    member = await casino.member()

    async def grant_one() -> None:
        async with casino.database.unit_of_work() as session:
            await inventory.grant(session, member.user_id, {STREAK_SHIELD: 1, SHARDS: 3})

    await asyncio.gather(*(grant_one() for _ in range(20)))
    async with casino.database.sessionmaker() as session:
        assert await inventory.quantity(session, member.user_id, STREAK_SHIELD) == 20
        assert await inventory.quantity(session, member.user_id, SHARDS) == 60


async def test_the_last_item_is_taken_once(casino: CasinoWorld) -> None:
    member = await casino.member()
    async with casino.database.unit_of_work() as session:
        await inventory.grant(session, member.user_id, {STREAK_SHIELD: 1})

    async def take_one() -> bool:
        try:
            async with casino.database.unit_of_work() as session:
                await inventory.take(session, member.user_id, STREAK_SHIELD)
        except NotEnoughItems:
            return False
        return True

    outcomes = await asyncio.gather(*(take_one() for _ in range(10)))
    assert outcomes.count(True) == 1
    async with casino.database.sessionmaker() as session:
        assert await inventory.quantity(session, member.user_id, STREAK_SHIELD) == 0
        assert await inventory.owned(session, member.user_id, [STREAK_SHIELD]) == set()


async def test_an_unknown_item_is_refused_and_nothing_granted(casino: CasinoWorld) -> None:
    member = await casino.member()
    with pytest.raises(ItemNotFound):
        async with casino.database.unit_of_work() as session:
            await inventory.grant(session, member.user_id, {SHARDS: 1, "no-such-item": 1})
    async with casino.database.sessionmaker() as session:
        assert await inventory.quantity(session, member.user_id, SHARDS) == 0


async def test_the_inventory_lists_items_and_shards(casino: CasinoWorld) -> None:
    member, other = await casino.member(), await casino.member()
    async with casino.database.unit_of_work() as session:
        await inventory.grant(session, member.user_id, {"golden-dragon": 1, SHARDS: 40})
        await inventory.grant(session, other.user_id, {"lucky-cat": 2})
    answer = await casino.client.get(f"{API}/inventory", headers=member.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["shards"] == 40
    assert [(i["item_id"], i["tier"], i["quantity"]) for i in body["items"]] == [
        ("golden-dragon", "SSR", 1)
    ]


async def test_the_inventory_needs_a_token(casino: CasinoWorld) -> None:
    assert_error(await casino.client.get(f"{API}/inventory"), 401)
