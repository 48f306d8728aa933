"""The snapshot bootstrap (`GET /sync/snapshot`): a new device gets the store in one stream,
then pulls `GET /sync/changes` from the cursor the stream ends with. At that seam no change
may be skipped or sent twice, whatever commits before, during or after the snapshot.

The interleavings are forced by explicit ordering (transactions held open through the stock
service, the snapshot's stream consumed a batch at a time), never by sleeping.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import select

from ensemble.apps.stock.domain import ChangePosition
from ensemble.apps.stock.models import InventoryTransaction
from ensemble.apps.stock.schemas import SnapshotLine
from ensemble.apps.stock.sync import service
from tests.apicheck import assert_error
from tests.apps.stock.conftest import StockWorld
from tests.apps.stock.test_changes_feed import (
    DEADLINE,
    FeedReader,
    Writers,
    create_category,
    store_with_admin,
)
from tests.apps.stock.test_sync import Headers, product, push, tx

SNAPSHOT = "/api/v1/sync/snapshot"
FEED_KINDS = {"categories": "category", "products": "product", "stock": "stock"}
KEYS = {"category": "id", "product": "id", "stock": "product_id"}
LINE: TypeAdapter[SnapshotLine] = TypeAdapter(SnapshotLine)
Item = tuple[str, str]  # (kind, id)


def normalized(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """A row as a device keeps it: times as instants (the feed writes `Z`, the snapshot
    `+00:00`); a product without the stock it embeds (the stock rows carry stock)."""
    row = {
        key: datetime.fromisoformat(value) if key.endswith("_at") and value else value
        for key, value in item.items()
        if key != "kind"
    }
    if kind == "product":
        del row["stock"], row["is_low"]
    return row


@dataclass
class Device:
    """A new device: bootstraps from a snapshot, then follows the feed from its cursor."""

    from_snapshot: list[Item] = field(default_factory=list)
    from_feed: list[Item] = field(default_factory=list)
    transactions: list[str] = field(default_factory=list)
    view: dict[Item, dict[str, Any]] = field(default_factory=dict)
    cursor: str | None = None

    def apply_snapshot(self, body: bytes) -> None:
        """Every line parsed (and checked against the documented line schema); the last is
        the `end` line with the cursor and the row count."""
        *lines, last = [json.loads(line) for line in body.splitlines()]
        end = LINE.validate_python(last)
        assert end.kind == "end"
        assert end.rows == len(lines)
        for line in lines:
            LINE.validate_python(line)
            item = (line["kind"], line[KEYS[line["kind"]]])
            self.from_snapshot.append(item)
            self.view[item] = normalized(line["kind"], line)
        self.cursor = end.cursor

    async def follow(self, world: StockWorld, headers: Headers, store: uuid.UUID) -> None:
        reader = FeedReader(world, headers, store, cursor=self.cursor)
        for page in await reader.drain():
            for feed_kind, kind in FEED_KINDS.items():
                for row in page[feed_kind]:
                    item = (kind, row[KEYS[kind]])
                    self.from_feed.append(item)
                    self.view[item] = normalized(kind, row)
            self.transactions += [t["id"] for t in page["transactions"]]
        self.cursor = reader.cursor


async def the_store(world: StockWorld, headers: Headers, store: uuid.UUID) -> Device:
    """The store as the database holds it now: everything the feed serves from its start."""
    reference = Device()
    await reference.follow(world, headers, store)
    return reference


async def bootstrapped(world: StockWorld, headers: Headers, store: uuid.UUID) -> Device:
    response = await world.client.get(SNAPSHOT, params={"store_id": str(store)}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    device = Device()
    device.apply_snapshot(response.content)
    return device


async def feed_position_of(world: StockWorld, transaction_id: str) -> ChangePosition:
    async with world.database.engine.connect() as conn:
        row = (
            await conn.execute(
                select(InventoryTransaction.change_xid, InventoryTransaction.change_seq).where(
                    InventoryTransaction.id == uuid.UUID(transaction_id)
                )
            )
        ).one()
        return ChangePosition(row.change_xid, row.change_seq)


@pytest.fixture
async def writers(world: StockWorld) -> AsyncIterator[Writers]:
    opened = Writers(world)
    yield opened
    await opened.close()


# What the snapshot holds


async def test_the_snapshot_is_the_store_as_the_feed_serves_it(world: StockWorld) -> None:
    store, admin = await store_with_admin(world)
    shelf = await create_category(world, admin, store, "Shelf")
    gone = await create_category(world, admin, store, "Gone")
    await world.client.delete(f"/api/v1/stores/{store}/categories/{gone}", headers=admin)
    items = [await world.product(store, stock=i, category_id=uuid.UUID(shelf)) for i in range(3)]
    await world.product(store, safety_stock=5, stock=2)  # low
    deleted = await world.product(store)
    await world.client.delete(f"/api/v1/stores/{store}/products/{deleted}", headers=admin)
    await push(world, admin, store, products=[product(name="Offline")])
    await push(world, admin, store, transactions=[tx(items[1], "OUT", 1)])
    await world.product(await world.store("Other"), stock=4)

    device = await bootstrapped(world, admin, store)
    reference = await the_store(world, admin, store)

    assert device.view == reference.view
    assert Counter(device.from_snapshot).most_common(1)[0][1] == 1
    assert Counter(kind for kind, _ in device.from_snapshot) == {
        "category": 2,
        "product": 6,
        "stock": 6,
    }
    await device.follow(world, admin, store)
    assert device.from_feed == [], "nothing changed since: the feed has nothing to add"


async def test_an_empty_store_is_just_the_end_line(world: StockWorld) -> None:
    store, admin = await store_with_admin(world)
    device = await bootstrapped(world, admin, store)
    assert device.view == {}
    assert device.cursor is not None


async def test_gzip_when_accepted_and_only_then(world: StockWorld) -> None:
    store, admin = await store_with_admin(world)
    for _ in range(3):
        await world.product(store, stock=2)
    params = {"store_id": str(store)}

    plain = await world.client.get(
        SNAPSHOT, params=params, headers={**admin, "Accept-Encoding": "identity"}
    )
    refused = await world.client.get(
        SNAPSHOT, params=params, headers={**admin, "Accept-Encoding": "gzip;q=0, identity"}
    )
    async with world.client.stream(
        "GET", SNAPSHOT, params=params, headers={**admin, "Accept-Encoding": "br, gzip;q=0.5"}
    ) as compressed:
        raw = b"".join([chunk async for chunk in compressed.aiter_raw()])

    assert "content-encoding" not in plain.headers
    assert "content-encoding" not in refused.headers
    assert compressed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in compressed.headers["vary"]
    rows = sorted(plain.content.splitlines()[:-1])
    assert sorted(gzip.decompress(raw).splitlines()[:-1]) == rows
    assert len(rows) == 6


async def test_a_worker_of_another_store_gets_403_and_no_token_401(world: StockWorld) -> None:
    store, _ = await store_with_admin(world)
    other_worker = await world.worker_headers([await world.store("Other")])
    forbidden = await world.client.get(
        SNAPSHOT, params={"store_id": str(store)}, headers=other_worker
    )
    anonymous = await world.client.get(SNAPSHOT, params={"store_id": str(store)})
    assert_error(forbidden, 403, "store_forbidden")
    assert_error(anonymous, 401)
    own_worker = await world.worker_headers([store])
    assert (await bootstrapped(world, own_worker, store)).view == {}


# The seam


async def test_changes_before_during_and_after_the_snapshot_arrive_exactly_once(
    world: StockWorld, writers: Writers
) -> None:
    """`slow` writes before the snapshot and commits after it; `mid` starts after `slow` and
    commits before the snapshot (the snapshot sees it, but its id is at or above the
    snapshot's horizon); `during` commits while the stream is being read; `after` once it
    has ended. Each reaches the device once, through the snapshot or through the feed."""
    store, admin = await store_with_admin(world)
    await create_category(world, admin, store, "Shelf")
    calm, slow_item, mid_item, during_item = [await world.product(store, stock=1) for _ in "abcd"]

    slow = await writers.begin(store, slow_item, 3)
    mid = await writers.begin(store, mid_item, 4)
    await mid.commit()
    stream = service.snapshot(world.database.engine, store)
    body = [await anext(stream)]  # the snapshot is taken: its first rows are out
    during = await writers.begin(store, during_item, 5)
    await during.commit()
    await slow.commit()
    body += [chunk async for chunk in stream]
    after = tx(calm, "IN", 6)
    await push(world, admin, store, transactions=[after], products=[product(name="After")])

    device = Device()
    device.apply_snapshot(b"".join(body))
    await device.follow(world, admin, store)

    assert device.view == (await the_store(world, admin, store)).view, "nothing skipped"
    horizon = ChangePosition.decode(json.loads(body[-1])["cursor"])
    assert horizon.xid <= slow.xid < (await feed_position_of(world, mid.transaction_id)).xid
    assert Counter(device.transactions) == Counter(
        [slow.transaction_id, mid.transaction_id, during.transaction_id, after["id"]]
    ), "every movement since the snapshot once, none from before it"
    served = Counter(device.from_snapshot + device.from_feed)
    assert served[("stock", str(mid_item))] == 1, "seen by the snapshot, yet sent once"
    assert ("stock", str(mid_item)) in device.from_feed
    assert served[("stock", str(calm))] == 2, "before the snapshot, and changed after it"
    assert served[("product", str(calm))] == 1
    assert served[("category", device.from_snapshot[0][1])] == 1
    assert Counter(device.from_feed).most_common(1)[0][1] == 1
    assert device.view[("stock", str(slow_item))]["quantity"] == 4
    assert device.view[("stock", str(during_item))]["quantity"] == 6


async def test_writers_racing_an_http_bootstrap_are_neither_lost_nor_doubled(
    world: StockWorld,
) -> None:
    store, admin = await store_with_admin(world)
    items = [await world.product(store) for _ in range(20)]
    stop = asyncio.Event()
    pushed: list[str] = []
    progress = asyncio.Condition()

    async def write_until_stopped(device: str) -> None:
        while not stop.is_set():
            moves = [tx(item, "IN", 1) for item in items[:: 3 if device == "a" else 2]]
            await push(world, admin, store, device=device, transactions=moves)
            pushed.extend(move["id"] for move in moves)
            async with progress:
                progress.notify_all()

    async def pushes_beyond(count: int) -> None:
        async with asyncio.timeout(DEADLINE), progress:
            await progress.wait_for(lambda: len(pushed) > count)

    racing = [asyncio.create_task(write_until_stopped(device)) for device in "ab"]
    try:
        await pushes_beyond(0)
        device = await bootstrapped(world, admin, store)
        await pushes_beyond(len(pushed))
    finally:
        stop.set()
        await asyncio.gather(*racing)
    assert device.cursor is not None
    horizon = ChangePosition.decode(device.cursor).xid
    await device.follow(world, admin, store)

    assert device.view == (await the_store(world, admin, store)).view
    assert Counter(device.from_feed).most_common(1)[0][1] == 1
    after_snapshot = [t for t in pushed if (await feed_position_of(world, t)).xid >= horizon]
    assert 0 < len(after_snapshot) < len(pushed)
    assert Counter(device.transactions) == Counter(after_snapshot)
