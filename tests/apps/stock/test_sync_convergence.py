"""Property: replicas converge whatever order offline batches arrive in.

Hypothesis draws a scenario in symbolic terms (product and movement numbers, device names).
Each example plays it twice, into two fresh stores with fresh ids: once with the batches in
their natural order, once in another permutation with some batches re-sent. The stores must
end identical (products, their winning versions and stock), every record must get exactly
one verdict, re-sending everything afterwards must change nothing, and the kept stock must
equal the sum of the log everywhere.

Tables are truncated only after the test function, so every example builds its own stores.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ensemble.apps.stock.inventory import service as inventory
from ensemble.apps.stock.models import CurrentStock, InventoryTransaction, Product
from tests.apps.stock.conftest import StockWorld
from tests.apps.stock.test_sync import T0, Headers, Record, at, push, snapshot

# The scenario, in symbolic terms


@dataclass(frozen=True)
class Move:
    product: int
    kind: str
    quantity: int
    minute: int


@dataclass(frozen=True)
class Edit:
    product: int
    minute: int
    name: str
    unit_price: int
    safety_stock: int
    barcode_variant: int
    deleted: bool


@dataclass(frozen=True)
class Batch:
    device: str
    moves: tuple[int, ...]  # indexes into Scenario.moves; repeats are the same record re-sent
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Scenario:
    seed_stock: tuple[int, ...]  # one seeded product per entry, with that opening stock
    new_products: int  # products only ever created by offline edits
    moves: tuple[Move, ...]
    batches: tuple[Batch, ...]
    reordered: tuple[int, ...]  # the second delivery order, re-sends included

    @property
    def product_count(self) -> int:
        return len(self.seed_stock) + self.new_products


def barcode(product: int, variant: int) -> str:
    """Barcodes never cross products, so no verdict depends on arrival order."""
    return f"bc-{product}-{variant}"


@st.composite
def moves(draw: st.DrawFn, seeded: int) -> Move:
    kind = draw(st.sampled_from(["IN", "OUT", "ADJUST"]))
    if kind == "ADJUST":
        quantity = draw(st.integers(-10, 10).filter(lambda q: q != 0))
    else:
        quantity = draw(st.integers(1, 20))
    return Move(draw(st.integers(0, seeded - 1)), kind, quantity, draw(st.integers(0, 30)))


@st.composite
def edits(draw: st.DrawFn, products: int) -> Edit:
    return Edit(
        product=draw(st.integers(0, products - 1)),
        minute=draw(st.integers(-1, 2)),  # small range: equal timestamps are common
        name=draw(st.sampled_from(["Apple", "Banana", "Cherry"])),
        unit_price=draw(st.sampled_from([100, 250])),
        safety_stock=draw(st.sampled_from([0, 5])),
        barcode_variant=draw(st.integers(0, 1)),
        deleted=draw(st.booleans().map(lambda b: b and draw(st.booleans()))),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    seed_stock = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=3)))
    new_products = draw(st.integers(0, 2))
    products = len(seed_stock) + new_products
    pool = tuple(draw(st.lists(moves(len(seed_stock)), min_size=1, max_size=8)))
    devices = [
        f"device-{name}" for name in draw(st.permutations("abcd"))[: draw(st.integers(2, 4))]
    ]
    batches = [
        Batch(
            device=device,
            moves=tuple(draw(st.lists(st.integers(0, len(pool) - 1), max_size=6))),
            edits=tuple(draw(st.lists(edits(products), max_size=4))),
        )
        for device in devices
        for _ in range(draw(st.integers(1, 2)))
    ]
    order = list(draw(st.permutations(range(len(batches)))))
    for resend in draw(st.lists(st.integers(0, len(batches) - 1), max_size=3)):
        order.insert(draw(st.integers(0, len(order))), resend)
    return Scenario(seed_stock, new_products, pool, tuple(batches), tuple(order))


# One replica: a fresh store with fresh ids for the same symbolic scenario


@dataclass
class Replica:
    world: StockWorld
    headers: Headers
    scenario: Scenario
    store: uuid.UUID = field(init=False)
    product_ids: list[uuid.UUID] = field(init=False)
    move_ids: list[uuid.UUID] = field(init=False)

    async def seed(self) -> None:
        self.store = await self.world.store("Replica")
        self.product_ids = [
            await self.world.product(
                self.store,
                barcode=barcode(i, 0),
                name="Seed",
                unit_price=100,
                updated_at=T0,
                stock=stock,
            )
            for i, stock in enumerate(self.scenario.seed_stock)
        ]
        self.product_ids += [uuid.uuid4() for _ in range(self.scenario.new_products)]
        self.move_ids = [uuid.uuid4() for _ in self.scenario.moves]

    def transaction(self, index: int) -> Record:
        move = self.scenario.moves[index]
        return {
            "id": str(self.move_ids[index]),
            "product_id": str(self.product_ids[move.product]),
            "type": move.kind,
            "quantity": move.quantity,
            "occurred_at": at(move.minute),
            "created_at": at(move.minute),
        }

    def product(self, edit: Edit) -> Record:
        return {
            "id": str(self.product_ids[edit.product]),
            "barcode": barcode(edit.product, edit.barcode_variant),
            "name": edit.name,
            "unit_price": edit.unit_price,
            "safety_stock": edit.safety_stock,
            "updated_at": at(edit.minute),
            "deleted": edit.deleted,
        }

    async def send(self, index: int) -> list[dict[str, Any]]:
        """Deliver one batch; every record is accepted in some form, never rejected."""
        batch = self.scenario.batches[index]
        results = await push(
            self.world,
            self.headers,
            self.store,
            device=batch.device,
            transactions=[self.transaction(i) for i in batch.moves],
            products=[self.product(edit) for edit in batch.edits],
        )
        assert [r for r in results if r["status"] == "rejected"] == []
        return results

    async def state(self) -> dict[str, Any]:
        """The store in symbolic terms: every product's winning version and stock, and the log."""
        symbol = {real: i for i, real in enumerate(self.product_ids)}
        moved = {real: i for i, real in enumerate(self.move_ids)}
        async with self.world.database.sessionmaker() as session:
            rows = await session.execute(
                select(Product, CurrentStock.quantity)
                .outerjoin(CurrentStock, CurrentStock.product_id == Product.id)
                .where(Product.store_id == self.store)
            )
            products = {
                symbol[p.id]: (
                    p.barcode,
                    p.name,
                    p.category_id,
                    p.unit_price,
                    p.safety_stock,
                    p.updated_at,
                    p.updated_by,
                    p.version_digest,
                    p.deleted_at,
                    quantity,
                )
                for p, quantity in rows
            }
            logged = await session.execute(
                select(
                    InventoryTransaction.id,
                    InventoryTransaction.product_id,
                    InventoryTransaction.delta,
                ).where(InventoryTransaction.store_id == self.store)
            )
            log = sorted((moved.get(tid, -1), symbol[pid], delta) for tid, pid, delta in logged)
        return {"products": products, "log": log}


async def assert_no_drift(world: StockWorld) -> None:
    async with world.database.unit_of_work() as session:
        assert await inventory.stock_drift(session) == []


def expected_log(scenario: Scenario) -> list[tuple[int, int, int]]:
    """Each movement sent at least once is logged exactly once, with its signed delta."""
    sent = {i for batch in scenario.batches for i in batch.moves}
    seeds = [(-1, i, stock) for i, stock in enumerate(scenario.seed_stock) if stock]
    signs = {"IN": 1, "OUT": -1, "ADJUST": 1}
    moves = [
        (i, m.product, signs[m.kind] * m.quantity)
        for i, m in enumerate(scenario.moves)
        if i in sent
    ]
    return sorted(seeds + moves)


@pytest.fixture
async def admin(world: StockWorld) -> Headers:
    return await world.admin_headers()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
async def test_replicas_converge_whatever_the_delivery_order(
    world: StockWorld, admin: Headers, scenario: Scenario
) -> None:
    in_order = Replica(world, admin, scenario)
    shuffled = Replica(world, admin, scenario)
    await in_order.seed()
    await shuffled.seed()

    for index in range(len(scenario.batches)):
        await in_order.send(index)
    for index in scenario.reordered:
        await shuffled.send(index)

    final = await in_order.state()
    assert await shuffled.state() == final
    assert final["log"] == expected_log(scenario)
    assert set(final["products"]) >= set(range(len(scenario.seed_stock)))

    before = await snapshot(world, in_order.store)
    for index in reversed(range(len(scenario.batches))):
        for result in await in_order.send(index):
            allowed = (
                {"duplicate"} if result["entity"] == "transaction" else {"duplicate", "superseded"}
            )
            assert result["status"] in allowed, result
    assert await snapshot(world, in_order.store) == before
    await assert_no_drift(world)


def test_scenarios_cover_ties_and_resends() -> None:
    """Guard the generator itself: it can produce the cases the property is about."""
    found: dict[str, bool] = {"tie": False, "resend": False, "shared_move": False, "delete": False}

    @settings(max_examples=300, deadline=None, database=None)
    @given(scenario=scenarios())
    def look(scenario: Scenario) -> None:
        stamps = [(e.product, e.minute) for b in scenario.batches for e in b.edits]
        found["tie"] |= len(stamps) != len(set(stamps))
        found["resend"] |= len(scenario.reordered) > len(scenario.batches)
        per_batch = [set(b.moves) for b in scenario.batches]
        found["shared_move"] |= any(
            a & b for i, a in enumerate(per_batch) for b in per_batch[i + 1 :]
        )
        found["delete"] |= any(e.deleted for b in scenario.batches for e in b.edits)

    look()
    assert all(found.values()), found
