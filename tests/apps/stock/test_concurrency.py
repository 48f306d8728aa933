"""50 clients moving stock on 10 hot products at once: the result is exactly the sum."""

from __future__ import annotations

import asyncio
import random
import uuid

from sqlalchemy import func, select

from ensemble.apps.stock.inventory import service as inventory
from ensemble.apps.stock.models import CurrentStock, InventoryTransaction
from tests.apps.stock.conftest import StockWorld

CLIENTS = 50
PRODUCTS = 10
MOVES_PER_CLIENT = 12
OPENING_STOCK = 30


async def _client_session(
    world: StockWorld,
    store: uuid.UUID,
    products: list[uuid.UUID],
    headers: dict[str, str],
    seed: int,
) -> tuple[dict[uuid.UUID, int], int]:
    """One client's moves; returns the net change it was told succeeded per product, and how
    many moves succeeded."""
    rng = random.Random(seed)
    applied: dict[uuid.UUID, int] = dict.fromkeys(products, 0)
    successes = 0
    for _ in range(MOVES_PER_CLIENT):
        product = rng.choice(products)
        kind, quantity = rng.choice([("IN", rng.randint(1, 5)), ("OUT", rng.randint(1, 9))])
        response = await world.client.post(
            f"/api/v1/stores/{store}/inventory/transactions",
            json={"product_id": str(product), "type": kind, "quantity": quantity},
            headers=headers,
        )
        if response.status_code == 201:
            applied[product] += quantity if kind == "IN" else -quantity
            successes += 1
        else:
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "insufficient_stock"
    return applied, successes


async def test_concurrent_moves_lose_no_update(world: StockWorld) -> None:
    store = await world.store()
    products = [await world.product(store, stock=OPENING_STOCK) for _ in range(PRODUCTS)]
    headers = await world.worker_headers([store])

    outcomes = await asyncio.gather(
        *(_client_session(world, store, products, headers, seed) for seed in range(CLIENTS))
    )

    async with world.database.unit_of_work() as session:
        kept = dict(
            (await session.execute(select(CurrentStock.product_id, CurrentStock.quantity))).all()
        )
        logged = await session.execute(select(func.count()).select_from(InventoryTransaction))
        assert await inventory.stock_drift(session) == []
    for product in products:
        expected = OPENING_STOCK + sum(applied[product] for applied, _ in outcomes)
        assert kept[product] == expected
        assert kept[product] >= 0, "an online OUT must never take stock below zero"
    successes = sum(count for _, count in outcomes)
    assert 0 < successes < CLIENTS * MOVES_PER_CLIENT, "the mix must include refused OUTs"
    assert logged.scalar_one() == PRODUCTS + successes
