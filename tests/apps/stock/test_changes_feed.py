"""The pull side of sync (`GET /sync/changes`): paging, opaque cursors, and above all that a
transaction committing late is never skipped (the projection-gap bug of plain sequences).

Slow transactions are real database sessions held open through the stock service; the
interleavings are forced by explicit ordering, never by sleeping.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.stock.auth import REALM, StoreAccess
from ensemble.apps.stock.domain import ChangePosition
from ensemble.apps.stock.inventory import service as inventory
from ensemble.apps.stock.models import (
    CurrentStock,
    InventoryTransaction,
    Role,
    Store,
    TransactionType,
)
from ensemble.apps.stock.schemas import StorePublic, TransactionCreate
from ensemble.kernel.identity.principal import Principal
from ensemble.kernel.pagination import encode_cursor
from tests.apps.stock.conftest import StockWorld
from tests.apps.stock.test_sync import Headers, product, push, tx

KEYS = {"categories": "id", "products": "id", "transactions": "id", "stock": "product_id"}
DEADLINE = 20.0  # seconds; a wait that takes longer is a failure, not a reason to wait more


@dataclass
class FeedReader:
    """A client pulling one store's changes, remembering everything it was served."""

    world: StockWorld
    headers: Headers
    store: uuid.UUID
    limit: int = 500
    cursor: str | None = None
    pages: int = 0
    served: list[tuple[str, str]] = field(default_factory=list)
    last_stock: dict[str, int] = field(default_factory=dict)

    async def page(self) -> dict[str, Any]:
        params: dict[str, Any] = {"store_id": str(self.store), "limit": self.limit}
        if self.cursor is not None:
            params["cursor"] = self.cursor
        response = await self.world.client.get(
            "/api/v1/sync/changes", params=params, headers=self.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["store_id"] == str(self.store)
        rows = sum(len(body[kind]) for kind in KEYS)
        assert rows <= self.limit
        assert body["has_more"] is False or rows == self.limit
        for kind, key in KEYS.items():
            self.served += [(kind, item[key]) for item in body[kind]]
        self.last_stock.update({s["product_id"]: s["quantity"] for s in body["stock"]})
        self.cursor = body["cursor"]
        self.pages += 1
        return body

    async def drain(self, max_pages: int = 500) -> list[dict[str, Any]]:
        """Page until the feed says there is no more."""
        pages = [await self.page()]
        while pages[-1]["has_more"]:
            assert len(pages) < max_pages, "the feed never reached its end"
            pages.append(await self.page())
        return pages

    def ids(self, kind: str) -> list[str]:
        return [key for served_kind, key in self.served if served_kind == kind]


async def store_with_admin(world: StockWorld) -> tuple[uuid.UUID, Headers]:
    return await world.store(), await world.admin_headers()


async def create_category(world: StockWorld, headers: Headers, store: uuid.UUID, name: str) -> str:
    response = await world.client.post(
        f"/api/v1/stores/{store}/categories", json={"name": name}, headers=headers
    )
    assert response.status_code == 201, response.text
    category_id: str = response.json()["id"]
    return category_id


async def logged_transactions(world: StockWorld, store: uuid.UUID) -> list[str]:
    """The store's log in feed order."""
    async with world.database.engine.connect() as conn:
        rows = await conn.execute(
            select(InventoryTransaction.id)
            .where(InventoryTransaction.store_id == store)
            .order_by(InventoryTransaction.change_xid, InventoryTransaction.change_seq)
        )
        return [str(row[0]) for row in rows]


async def stored_stock(world: StockWorld, store: uuid.UUID) -> dict[str, int]:
    async with world.database.engine.connect() as conn:
        rows = await conn.execute(
            select(CurrentStock.product_id, CurrentStock.quantity).where(
                CurrentStock.store_id == store
            )
        )
        return {str(pid): quantity for pid, quantity in rows}


# Slow writers: sessions that wrote a stock movement and have not committed yet


@dataclass
class OpenMovement:
    session: AsyncSession
    transaction_id: str
    xid: int
    seq: int

    async def commit(self) -> None:
        await self.session.commit()
        await self.session.close()

    async def rollback(self) -> None:
        await self.session.rollback()
        await self.session.close()


@dataclass
class Writers:
    world: StockWorld
    sessions: list[AsyncSession] = field(default_factory=list)

    async def begin(self, store: uuid.UUID, product_id: uuid.UUID, quantity: int) -> OpenMovement:
        """Record an IN through the service and hold the transaction open."""
        actor = await self.world.actor()
        session = self.world.database.sessionmaker()
        self.sessions.append(session)
        store_row = await session.get(Store, store)
        assert store_row is not None
        access = StoreAccess(
            StorePublic.model_validate(store_row), Principal(actor, REALM, Role.ADMIN.value, {})
        )
        movement = TransactionCreate(
            product_id=product_id, type=TransactionType.IN, quantity=quantity
        )
        recorded = await inventory.record_transaction(session, access, movement)
        seq = (
            await session.execute(
                select(InventoryTransaction.change_seq).where(
                    InventoryTransaction.id == recorded.transaction.id
                )
            )
        ).scalar_one()
        xid = int(
            (
                await session.execute(text("SELECT (pg_current_xact_id()::text)::bigint"))
            ).scalar_one()
        )
        return OpenMovement(session, str(recorded.transaction.id), xid, seq)

    async def close(self) -> None:
        """Roll back whatever a failing test left open, so the truncation is not blocked."""
        for session in self.sessions:
            await session.close()


@pytest.fixture
async def writers(world: StockWorld) -> AsyncIterator[Writers]:
    opened = Writers(world)
    yield opened
    await opened.close()


# Paging


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_small_pages_deliver_every_change_exactly_once_in_order(
    world: StockWorld, limit: int
) -> None:
    store, admin = await store_with_admin(world)
    categories = [await create_category(world, admin, store, f"Shelf {i}") for i in range(3)]
    products = [str(await world.product(store, stock=i + 1)) for i in range(4)]
    born_offline = product(name="Offline")
    await push(
        world, admin, store, products=[born_offline], transactions=[tx(products[0], "OUT", 1)]
    )
    reader = FeedReader(world, admin, store, limit=limit)

    pages = await reader.drain()

    assert [page["has_more"] for page in pages] == [True] * (len(pages) - 1) + [False]
    assert Counter(reader.served).most_common(1)[0][1] == 1  # nothing served twice
    assert reader.ids("categories") == categories
    assert reader.ids("products") == [*products, born_offline["id"]]
    assert reader.ids("transactions") == await logged_transactions(world, store)
    assert len(reader.ids("transactions")) == 5
    assert set(reader.ids("stock")) == {*products, born_offline["id"]}
    assert reader.last_stock == await stored_stock(world, store)
    assert reader.last_stock[products[0]] == 0

    cursor = reader.cursor
    after_end = await reader.page()
    assert (after_end["has_more"], after_end["cursor"]) == (False, cursor)
    assert sum(len(after_end[kind]) for kind in KEYS) == 0


async def test_has_more_stays_true_while_one_kind_alone_has_rows_left(world: StockWorld) -> None:
    store, admin = await store_with_admin(world)
    categories = [await create_category(world, admin, store, f"Shelf {i}") for i in range(5)]
    reader = FeedReader(world, admin, store, limit=2)

    pages = await reader.drain()

    assert reader.ids("categories") == categories
    assert [page["has_more"] for page in pages] == [True, True, False]


async def test_later_changes_continue_from_the_cursor(world: StockWorld) -> None:
    store, admin = await store_with_admin(world)
    first = await world.product(store, stock=2)
    reader = FeedReader(world, admin, store, limit=10)
    await reader.drain()
    served_before = len(reader.served)

    moved = tx(first, "OUT", 1)
    await push(world, admin, store, transactions=[moved])
    await reader.drain()

    assert reader.served[served_before:] == [("transactions", moved["id"]), ("stock", str(first))]
    assert reader.last_stock[str(first)] == 1


async def test_the_sync_response_cursor_never_skips_another_devices_change(
    world: StockWorld,
) -> None:
    """Device A pulled up to X; device B pushes; A pushes with X: the answer lets A read
    B's change too (a cursor past it would lose it forever)."""
    store, admin = await store_with_admin(world)
    item = await world.product(store, stock=10)
    device_a = FeedReader(world, admin, store)
    await device_a.drain()
    pulled_up_to = device_a.cursor

    async def push(device: str, movement: dict[str, object], cursor: str | None) -> str:
        body = {"device_id": device, "store_id": str(store), "transactions": [movement]}
        response = await world.client.post(
            "/api/v1/sync", json={**body, "cursor": cursor}, headers=admin
        )
        assert response.status_code == 200
        resume: str = response.json()["cursor"]
        return resume

    from_b, from_a = tx(item, "OUT", 2), tx(item, "IN", 5)
    await push("device-b", from_b, None)
    resume = await push("device-a", from_a, pulled_up_to)
    assert resume == pulled_up_to

    catch_up = FeedReader(world, admin, store, cursor=resume)
    await catch_up.drain()
    assert catch_up.ids("transactions") == [from_b["id"], from_a["id"]]
    assert catch_up.last_stock == {str(item): 13}


async def test_a_fresh_device_is_told_to_pull_from_the_start(world: StockWorld) -> None:
    store, admin = await store_with_admin(world)
    item = await world.product(store)
    response = await world.client.post(
        "/api/v1/sync",
        json={"device_id": "d", "store_id": str(store), "transactions": [tx(item, "IN", 1)]},
        headers=admin,
    )
    reader = FeedReader(world, admin, store, cursor=response.json()["cursor"])
    await reader.drain()
    assert str(item) in reader.ids("products"), "from the start: the whole store"


async def test_the_feed_is_scoped_to_one_store(world: StockWorld) -> None:
    store = await world.store()
    other = await world.store("Other")
    await world.product(other, stock=3)
    mine = await world.product(store)
    worker = await world.worker_headers([store])

    reader = FeedReader(world, worker, store)
    await reader.drain()
    forbidden = await world.client.get(
        "/api/v1/sync/changes", params={"store_id": str(other)}, headers=worker
    )

    assert set(reader.served) == {("products", str(mine)), ("stock", str(mine))}
    assert forbidden.status_code == 403


async def test_cursor_is_opaque(world: StockWorld) -> None:
    store, admin = await store_with_admin(world)
    await world.product(store)
    body = await FeedReader(world, admin, store).page()

    assert isinstance(body["cursor"], str)
    assert not body["cursor"].isdigit()
    assert body["cursor"].isascii()
    assert " " not in body["cursor"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "",
        "bm90LWpzb24",  # base64 of "not-json"
        encode_cursor([1]),
        encode_cursor([1, 2, 3]),
        encode_cursor(["a", "b"]),
        encode_cursor([-1, 0]),
        encode_cursor([2**63, 0]),
        encode_cursor([1.5, 2]),
        encode_cursor([None, 2]),
    ],
)
async def test_a_garbage_cursor_is_422_invalid_cursor(world: StockWorld, cursor: str) -> None:
    store, admin = await store_with_admin(world)

    response = await world.client.get(
        "/api/v1/sync/changes", params={"store_id": str(store), "cursor": cursor}, headers=admin
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


# Out-of-order commits


async def test_a_transaction_committing_late_is_not_skipped(
    world: StockWorld, writers: Writers
) -> None:
    store, admin = await store_with_admin(world)
    slow_product, fast_product = await world.product(store), await world.product(store)
    reader = FeedReader(world, admin, store, limit=1)
    await reader.drain()

    slow = await writers.begin(store, slow_product, 3)  # writes first: lower xid and sequence
    fast = await writers.begin(store, fast_product, 4)
    assert (slow.xid, slow.seq) < (fast.xid, fast.seq)
    await fast.commit()

    await reader.drain()
    assert slow.transaction_id not in reader.ids("transactions")
    assert ChangePosition.decode(reader.cursor).xid < slow.xid, (
        "the cursor moved past a running writer"
    )

    await slow.commit()
    await reader.drain()

    assert Counter(reader.ids("transactions")) == {slow.transaction_id: 1, fast.transaction_id: 1}
    assert reader.last_stock == {str(slow_product): 3, str(fast_product): 4}


async def test_a_rolled_back_writer_never_appears_and_does_not_stall_the_feed(
    world: StockWorld, writers: Writers
) -> None:
    store, admin = await store_with_admin(world)
    aborted_product, kept_product = await world.product(store), await world.product(store)
    reader = FeedReader(world, admin, store)
    await reader.drain()
    served_before = len(reader.served)

    aborted = await writers.begin(store, aborted_product, 7)
    kept = await writers.begin(store, kept_product, 2)
    await kept.commit()
    await aborted.rollback()
    await reader.drain()

    assert reader.served[served_before:] == [
        ("transactions", kept.transaction_id),
        ("stock", str(kept_product)),
    ]
    assert reader.last_stock == {str(aborted_product): 0, str(kept_product): 2}


async def test_a_reader_paging_through_out_of_order_commits_misses_nothing(
    world: StockWorld, writers: Writers
) -> None:
    store, admin = await store_with_admin(world)
    products = [await world.product(store) for _ in range(10)]
    reader = FeedReader(world, admin, store, limit=3)
    progress = asyncio.Condition()
    stop = asyncio.Event()
    rng = random.Random(20260301)
    aborted: set[str] = set()

    async def read_until_stopped() -> None:
        while not stop.is_set():
            await reader.page()
            async with progress:
                progress.notify_all()
        await reader.drain()

    async def reader_passes(page: int) -> None:
        async with asyncio.timeout(DEADLINE), progress:
            await progress.wait_for(lambda: reader.pages >= page or reading.done())
        assert not reading.done(), reading.exception()

    reading = asyncio.create_task(read_until_stopped())
    try:
        for _ in range(3):
            opened = await asyncio.gather(
                *(writers.begin(store, p, rng.randint(1, 9)) for p in products)
            )
            to_abort = set(rng.sample(range(len(opened)), 2))
            for index in rng.sample(range(len(opened)), len(opened)):
                if index in to_abort:
                    aborted.add(opened[index].transaction_id)
                    await opened[index].rollback()
                else:
                    await opened[index].commit()
                await reader_passes(reader.pages + 2)  # a page that started after this commit
    finally:
        stop.set()
        async with asyncio.timeout(DEADLINE):
            await reading

    written = await logged_transactions(world, store)
    assert len(written) == 3 * (len(products) - 2)
    assert Counter(reader.ids("transactions")) == Counter(written)
    assert aborted.isdisjoint(reader.ids("transactions"))
    assert reader.last_stock == await stored_stock(world, store)
