"""Offline batch sync (`POST /sync`): one verdict per record, idempotent re-sends,
last-write-wins products, and never a half-written batch.

The helpers at the top are shared with the convergence and change-feed tests.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ensemble.apps.stock.models import CurrentStock, InventoryTransaction, Product
from tests.apps.stock.conftest import StockWorld

Headers = dict[str, str]
Record = dict[str, Any]
Verdict = dict[str, Any]

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    """An ISO time `minutes` after the scenario's fixed origin (stable across re-sends)."""
    return (T0 + timedelta(minutes=minutes)).isoformat()


def tx(
    product_id: uuid.UUID | str,
    kind: str,
    quantity: int,
    *,
    minute: float = 0,
    record_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> Record:
    record: Record = {
        "id": str(record_id or uuid.uuid4()),
        "product_id": str(product_id),
        "type": kind,
        "quantity": quantity,
        "occurred_at": at(minute),
        "created_at": at(minute),
    }
    if reason is not None:
        record["reason"] = reason
    return record


def product(
    *,
    product_id: uuid.UUID | None = None,
    barcode: str | None = None,
    name: str = "Item",
    unit_price: int = 100,
    safety_stock: int = 0,
    minute: float = 0,
    category_id: uuid.UUID | None = None,
    deleted: bool = False,
) -> Record:
    return {
        "id": str(product_id or uuid.uuid4()),
        "barcode": barcode or uuid.uuid4().hex[:12],
        "name": name,
        "category_id": None if category_id is None else str(category_id),
        "unit_price": unit_price,
        "safety_stock": safety_stock,
        "updated_at": at(minute),
        "deleted": deleted,
    }


def sync_body(
    store: uuid.UUID,
    *,
    device: str = "device-a",
    transactions: Sequence[Record] = (),
    products: Sequence[Record] = (),
) -> dict[str, Any]:
    return {
        "device_id": device,
        "store_id": str(store),
        "transactions": list(transactions),
        "products": list(products),
    }


async def push(
    world: StockWorld,
    headers: Headers,
    store: uuid.UUID,
    *,
    device: str = "device-a",
    transactions: Sequence[Record] = (),
    products: Sequence[Record] = (),
) -> list[Verdict]:
    """POST a batch; assert it answered 200 with exactly one verdict per record sent."""
    body = sync_body(store, device=device, transactions=transactions, products=products)
    response = await world.client.post("/api/v1/sync", json=body, headers=headers)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert isinstance(payload["cursor"], str)
    assert payload["cursor"]
    results: list[Verdict] = payload["results"]
    sent = Counter(
        [("product", p["id"]) for p in products] + [("transaction", t["id"]) for t in transactions]
    )
    assert len(results) == len(products) + len(transactions)
    assert Counter((r["entity"], r["id"]) for r in results) == sent
    for result in results:
        assert result["status"] in {"applied", "duplicate", "superseded", "rejected"}
        if result["status"] == "rejected":
            assert result["reason"], result
    return results


def verdict_of(results: Sequence[Verdict], record: Record) -> Verdict:
    """The one verdict for a record whose id occurs once in the batch."""
    found = [r for r in results if r["id"] == record["id"]]
    assert len(found) == 1, found
    return found[0]


def statuses(results: Sequence[Verdict]) -> list[tuple[str, str | None]]:
    return [(r["status"], r["reason"]) for r in results]


async def stock_of(world: StockWorld, headers: Headers, store: uuid.UUID, product_id: Any) -> int:
    response = await world.client.get(
        f"/api/v1/stores/{store}/inventory/stock/{product_id}", headers=headers
    )
    assert response.status_code == 200, response.text
    quantity: int = response.json()["quantity"]
    return quantity


async def listed_product_ids(world: StockWorld, headers: Headers, store: uuid.UUID) -> set[str]:
    response = await world.client.get(
        f"/api/v1/stores/{store}/products", params={"limit": 100}, headers=headers
    )
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def transaction_exists(world: StockWorld, transaction_id: str) -> bool:
    async with world.database.unit_of_work() as session:
        found = await session.get(InventoryTransaction, uuid.UUID(transaction_id))
        return found is not None


async def snapshot(world: StockWorld, store: uuid.UUID) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row of the store, feed positions included: "changed nothing" means equal."""
    tables = {
        "products": (Product.__table__, Product.id),
        "transactions": (InventoryTransaction.__table__, InventoryTransaction.id),
        "stock": (CurrentStock.__table__, CurrentStock.product_id),
    }
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with world.database.engine.connect() as conn:
        for name, (table, key) in tables.items():
            rows = await conn.execute(select(table).where(table.c.store_id == store).order_by(key))
            found[name] = [tuple(row) for row in rows]
    return found


async def transaction_count(world: StockWorld, store: uuid.UUID) -> int:
    async with world.database.engine.connect() as conn:
        stmt = select(func.count()).where(InventoryTransaction.store_id == store)
        return int((await conn.execute(stmt)).scalar_one())


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def member_of_new_store(world: StockWorld) -> tuple[uuid.UUID, Headers]:
    store = await world.store()
    return store, await world.worker_headers([store])


# Applying


async def test_every_record_gets_one_verdict_and_applied_movements_move_stock(
    world: StockWorld,
) -> None:
    store, headers = await member_of_new_store(world)
    seeded = await world.product(store, stock=4)
    new = product(name="Fresh milk", minute=1)
    movements = [
        tx(seeded, "IN", 10, minute=1),
        tx(seeded, "OUT", 3, minute=2),
        tx(seeded, "ADJUST", -2, minute=3),
    ]

    results = await push(world, headers, store, transactions=movements, products=[new])

    assert statuses(results) == [("applied", None)] * 4
    assert await stock_of(world, headers, store, seeded) == 4 + 10 - 3 - 2
    assert await stock_of(world, headers, store, new["id"]) == 0
    listed = await world.client.get(
        f"/api/v1/stores/{store}/inventory/transactions",
        params={"product_id": str(seeded), "limit": 100},
        headers=headers,
    )
    logged = {item["id"]: item for item in listed.json()["items"]}
    for record in movements:
        stamp = verdict_of(results, record)["server_updated_at"]
        assert stamp is not None
        assert parse_time(logged[record["id"]]["synced_at"]) == parse_time(stamp)
        assert logged[record["id"]]["device_id"] == "device-a"
    assert verdict_of(results, new)["server_updated_at"] is not None


async def test_resending_the_identical_request_changes_nothing(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    seeded = await world.product(store, stock=1, name="Seeded", updated_at=T0)
    renamed = product(product_id=seeded, name="Renamed", minute=1)
    new = product(name="New one", minute=2)
    movements = [
        tx(seeded, "OUT", 5, minute=1),  # drives stock negative
        tx(new["id"], "IN", 7, minute=3),
        tx(seeded, "ADJUST", 2, minute=4),
    ]

    first = await push(world, headers, store, transactions=movements, products=[renamed, new])
    assert {r["status"] for r in first} == {"applied"}
    before = await snapshot(world, store)

    second = await push(world, headers, store, transactions=movements, products=[renamed, new])

    assert await snapshot(world, store) == before
    for record in movements:
        assert verdict_of(second, record)["status"] == "duplicate"
    for record in (renamed, new):
        assert verdict_of(second, record)["status"] in {"duplicate", "superseded"}
    assert await stock_of(world, headers, store, seeded) == 1 - 5 + 2
    assert await stock_of(world, headers, store, new["id"]) == 7


async def test_resending_after_the_server_moved_on_still_writes_nothing(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    seeded = await world.product(store, name="Seeded", updated_at=T0)
    stale = product(
        product_id=seeded, name="Offline name", minute=-60
    )  # older than the server copy
    movement = tx(seeded, "IN", 3)
    first = await push(world, headers, store, transactions=[movement], products=[stale])
    assert verdict_of(first, stale)["status"] == "superseded"
    before = await snapshot(world, store)

    second = await push(world, headers, store, transactions=[movement], products=[stale])

    assert statuses(second) == [("superseded", None), ("duplicate", None)]
    assert await snapshot(world, store) == before


# Negative stock and processing order


async def test_offline_out_below_zero_is_applied_with_a_warning(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)  # allow_negative_stock is false
    item = await world.product(store, stock=2)
    sold = tx(item, "OUT", 5)

    results = await push(world, headers, store, transactions=[sold])

    assert verdict_of(results, sold) == {
        **verdict_of(results, sold),
        "status": "applied",
        "reason": "negative_stock",
    }
    assert await stock_of(world, headers, store, item) == -3
    assert await transaction_exists(world, sold["id"])


async def test_movements_are_applied_in_occurred_at_order(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    item = await world.product(store, stock=0)
    late_out = tx(item, "OUT", 4, minute=10)
    early_in = tx(item, "IN", 4, minute=5)
    later_out = tx(item, "OUT", 1, minute=20)

    results = await push(world, headers, store, transactions=[late_out, later_out, early_in])

    assert verdict_of(results, early_in)["reason"] is None
    assert verdict_of(results, late_out) == {
        **verdict_of(results, late_out),
        "status": "applied",
        "reason": None,
    }
    assert verdict_of(results, later_out)["reason"] == "negative_stock"
    assert await stock_of(world, headers, store, item) == -1


# Rejections


async def test_transaction_rejections_name_their_reason_and_write_nothing(
    world: StockWorld,
) -> None:
    store, headers = await member_of_new_store(world)
    elsewhere = await world.store("Elsewhere")
    item = await world.product(store, stock=5)
    foreign = await world.product(elsewhere, stock=5)
    cases = {
        "unknown_product": tx(uuid.uuid4(), "IN", 1),
        "wrong_store": tx(foreign, "OUT", 1),
        "quantity_not_positive": tx(item, "IN", 0),
        "adjust_quantity_zero": tx(item, "ADJUST", 0),
        "quantity_out_of_range": tx(item, "IN", 10**12),
    }
    negative_out = tx(item, "OUT", -2)

    results = await push(world, headers, store, transactions=[*cases.values(), negative_out])

    for reason, record in cases.items():
        assert (verdict_of(results, record)["status"], verdict_of(results, record)["reason"]) == (
            "rejected",
            reason,
        )
        assert not await transaction_exists(world, record["id"])
    assert verdict_of(results, negative_out)["reason"] == "quantity_not_positive"
    assert await stock_of(world, headers, store, item) == 5
    assert await stock_of(world, await world.admin_headers(), elsewhere, foreign) == 5


async def test_same_transaction_id_with_other_content_is_an_id_conflict(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    item = await world.product(store)
    original = tx(item, "IN", 5)
    await push(world, headers, store, transactions=[original])

    altered = {**original, "quantity": 6}
    other_type = {**original, "type": "ADJUST"}
    results = await push(world, headers, store, transactions=[altered])
    in_batch = tx(item, "IN", 1, minute=1)
    twin = {**in_batch, "quantity": 9, "occurred_at": at(2)}
    batch = await push(world, headers, store, transactions=[twin, in_batch, other_type])

    assert statuses(results) == [("rejected", "id_conflict")]
    assert statuses(batch) == [
        ("rejected", "id_conflict"),
        ("applied", None),
        ("rejected", "id_conflict"),
    ]
    assert await stock_of(world, headers, store, item) == 5 + 1


async def test_product_rejections_unknown_category_wrong_store(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    elsewhere = await world.store("Elsewhere")
    admin = await world.admin_headers()
    foreign_category = await world.client.post(
        f"/api/v1/stores/{elsewhere}/categories", json={"name": "Drinks"}, headers=admin
    )
    assert foreign_category.status_code == 201, foreign_category.text
    foreign_product = await world.product(elsewhere, name="Theirs", updated_at=T0)
    unknown = product(category_id=uuid.uuid4())
    other_stores_category = product(category_id=uuid.UUID(foreign_category.json()["id"]))
    steal = product(product_id=foreign_product, name="Mine now", minute=1)

    results = await push(world, headers, store, products=[unknown, other_stores_category, steal])

    assert statuses(results) == [
        ("rejected", "unknown_category"),
        ("rejected", "unknown_category"),
        ("rejected", "wrong_store"),
    ]
    assert await listed_product_ids(world, headers, store) == set()
    theirs = await world.client.get(
        f"/api/v1/stores/{elsewhere}/products/{foreign_product}", headers=admin
    )
    assert theirs.json()["name"] == "Theirs"


async def test_known_category_is_accepted(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    created = await world.client.post(
        f"/api/v1/stores/{store}/categories",
        json={"name": "Snacks"},
        headers=await world.admin_headers(),
    )
    record = product(category_id=uuid.UUID(created.json()["id"]))

    results = await push(world, headers, store, products=[record])

    assert statuses(results) == [("applied", None)]
    read = await world.client.get(
        f"/api/v1/stores/{store}/products/{record['id']}", headers=headers
    )
    assert read.json()["category_id"] == created.json()["id"]


async def test_two_products_may_not_share_a_live_barcode(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    await world.product(store, barcode="880-taken", name="Holder")
    clash_with_stored = product(barcode="880-taken")
    first = product(barcode="880-new", name="First", minute=1)
    second = product(barcode="880-new", name="Second", minute=2)

    results = await push(world, headers, store, products=[clash_with_stored, first, second])

    assert verdict_of(results, clash_with_stored)["reason"] == "barcode_conflict"
    in_batch = sorted(statuses([verdict_of(results, first), verdict_of(results, second)]))
    assert in_batch == [("applied", None), ("rejected", "barcode_conflict")]
    winner = first if verdict_of(results, first)["status"] == "applied" else second
    holder = await world.client.get(
        f"/api/v1/stores/{store}/products/barcode/880-taken", headers=headers
    )
    assert holder.json()["name"] == "Holder"
    new_holder = await world.client.get(
        f"/api/v1/stores/{store}/products/barcode/880-new", headers=headers
    )
    assert new_holder.json()["id"] == winner["id"]
    assert len(await listed_product_ids(world, headers, store)) == 2


async def test_a_deleted_products_barcode_is_free_again(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    old = product(barcode="880-reuse", name="Old", minute=1)
    await push(world, headers, store, products=[old])
    await push(world, headers, store, products=[{**old, "deleted": True, "updated_at": at(2)}])

    reuse = product(barcode="880-reuse", name="New", minute=3)
    results = await push(world, headers, store, products=[reuse])

    assert statuses(results) == [("applied", None)]
    found = await world.client.get(
        f"/api/v1/stores/{store}/products/barcode/880-reuse", headers=headers
    )
    assert found.json()["id"] == reuse["id"]


async def test_worker_may_not_sync_into_another_store(world: StockWorld) -> None:
    _, headers = await member_of_new_store(world)
    elsewhere = await world.store("Elsewhere")
    item = await world.product(elsewhere)
    body = sync_body(elsewhere, transactions=[tx(item, "IN", 3)])

    response = await world.client.post("/api/v1/sync", json=body, headers=headers)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "store_forbidden"
    assert await transaction_count(world, elsewhere) == 0


# Products: last write wins


async def test_older_product_record_is_superseded_and_gets_the_server_copy(
    world: StockWorld,
) -> None:
    store, headers = await member_of_new_store(world)
    newer = product(name="Server name", unit_price=250, minute=10)
    await push(world, headers, store, device="device-a", products=[newer])
    await push(world, headers, store, device="device-a", transactions=[tx(newer["id"], "IN", 4)])
    older = {**newer, "name": "Stale name", "unit_price": 1, "updated_at": at(5)}

    results = await push(world, headers, store, device="device-z", products=[older])

    result = verdict_of(results, older)
    assert result["status"] == "superseded"
    server_copy = result["product"]
    assert server_copy["id"] == newer["id"]
    assert (server_copy["name"], server_copy["unit_price"], server_copy["stock"]) == (
        "Server name",
        250,
        4,
    )
    assert parse_time(server_copy["updated_at"]) == parse_time(newer["updated_at"])
    read = await world.client.get(f"/api/v1/stores/{store}/products/{newer['id']}", headers=headers)
    assert read.json()["name"] == "Server name"


async def test_newer_product_record_overwrites(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    seeded = await world.product(store, name="Before", updated_at=T0)
    edit = product(product_id=seeded, name="After", unit_price=999, safety_stock=7, minute=1)

    results = await push(world, headers, store, products=[edit])

    assert statuses(results) == [("applied", None)]
    read = (
        await world.client.get(f"/api/v1/stores/{store}/products/{seeded}", headers=headers)
    ).json()
    assert (read["name"], read["unit_price"], read["safety_stock"]) == ("After", 999, 7)
    assert parse_time(read["updated_at"]) == T0 + timedelta(minutes=1)


@pytest.mark.parametrize("arrival", [("device-a", "device-b"), ("device-b", "device-a")])
async def test_equal_updated_at_is_won_by_the_larger_device_id(
    world: StockWorld, arrival: tuple[str, str]
) -> None:
    store, headers = await member_of_new_store(world)
    product_id = uuid.uuid4()
    edits = {
        "device-a": product(product_id=product_id, barcode="880-tie", name="From A", minute=7),
        "device-b": product(product_id=product_id, barcode="880-tie", name="From B", minute=7),
    }
    first, second = arrival

    await push(world, headers, store, device=first, products=[edits[first]])
    late = await push(world, headers, store, device=second, products=[edits[second]])

    read = await world.client.get(f"/api/v1/stores/{store}/products/{product_id}", headers=headers)
    assert read.json()["name"] == "From B"
    assert late[0]["status"] == ("applied" if second == "device-b" else "superseded")


async def test_deleted_record_soft_deletes_and_keeps_history(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    item = await world.product(store, stock=6, name="Discontinued", updated_at=T0)
    keep = await world.product(store, name="Kept")
    tombstone = product(product_id=item, name="Discontinued", minute=1, deleted=True)

    results = await push(world, headers, store, products=[tombstone])

    assert statuses(results) == [("applied", None)]
    assert await listed_product_ids(world, headers, store) == {str(keep)}
    gone = await world.client.get(f"/api/v1/stores/{store}/products/{item}", headers=headers)
    assert gone.status_code == 404
    history = await world.client.get(
        f"/api/v1/stores/{store}/inventory/transactions",
        params={"product_id": str(item)},
        headers=headers,
    )
    assert [(t["type"], t["quantity"]) for t in history.json()["items"]] == [("IN", 6)]
    async with world.database.unit_of_work() as session:
        row = await session.get(Product, item)
        assert row is not None
        assert row.deleted_at == T0 + timedelta(minutes=1)
    again = await push(world, headers, store, products=[tombstone])
    assert statuses(again) == [("duplicate", None)]


async def test_duplicate_product_ids_in_one_batch_keep_the_newest(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    product_id = uuid.uuid4()
    old = product(product_id=product_id, barcode="880-dup", name="Old", minute=1)
    new = product(product_id=product_id, barcode="880-dup", name="New", minute=2)

    results = await push(world, headers, store, products=[new, old, new])

    assert [r["status"] for r in results] == ["applied", "superseded", "duplicate"]
    read = await world.client.get(f"/api/v1/stores/{store}/products/{product_id}", headers=headers)
    assert read.json()["name"] == "New"


# Batches as a whole


async def test_transaction_for_a_product_created_in_the_same_batch_is_applied(
    world: StockWorld,
) -> None:
    store, headers = await member_of_new_store(world)
    new = product(name="Born offline", minute=5)
    received = tx(new["id"], "IN", 12, minute=1)  # even recorded before the product's own stamp
    sold = tx(new["id"], "OUT", 2, minute=6)

    results = await push(world, headers, store, transactions=[received, sold], products=[new])

    assert statuses(results) == [("applied", None)] * 3
    assert await stock_of(world, headers, store, new["id"]) == 10


async def test_a_mixed_batch_applies_only_its_valid_records(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    item = await world.product(store, stock=3)
    good_product = product(name="Good")
    bad_product = product(name="Bad", category_id=uuid.uuid4())
    good = [tx(item, "IN", 4, minute=1), tx(good_product["id"], "IN", 2, minute=2)]
    bad = [
        tx(uuid.uuid4(), "IN", 1),
        tx(item, "OUT", 0),
        tx(bad_product["id"], "IN", 9),  # its product was rejected
    ]
    before = await transaction_count(world, store)

    results = await push(
        world,
        headers,
        store,
        transactions=[bad[0], good[0], bad[1], good[1], bad[2]],
        products=[bad_product, good_product],
    )

    assert [verdict_of(results, r)["status"] for r in (*good, good_product)] == ["applied"] * 3
    assert [verdict_of(results, r)["reason"] for r in (*bad, bad_product)] == [
        "unknown_product",
        "quantity_not_positive",
        "unknown_product",
        "unknown_category",
    ]
    assert await transaction_count(world, store) == before + len(good)
    assert await stock_of(world, headers, store, item) == 7
    assert await stock_of(world, headers, store, good_product["id"]) == 2
    assert await listed_product_ids(world, headers, store) == {str(item), good_product["id"]}


async def test_more_than_5000_records_is_refused_whole(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    item = await world.product(store, stock=1)
    body = sync_body(
        store,
        transactions=[tx(item, "IN", 1) for _ in range(4_999)],
        products=[product(), product()],
    )
    before = await snapshot(world, store)

    response = await world.client.post("/api/v1/sync", json=body, headers=headers)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert isinstance(error["message"], str)
    assert error["message"]
    assert await snapshot(world, store) == before


async def test_exactly_5000_records_are_accepted(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    item = await world.product(store)
    movements = [tx(item, "IN", 1, minute=i / 100) for i in range(5_000)]

    results = await push(world, headers, store, transactions=movements)

    assert Counter(r["status"] for r in results) == {"applied": 5_000}
    assert await stock_of(world, headers, store, item) == 5_000


@pytest.mark.parametrize(
    "broken",
    [
        {"device_id": ""},
        {"store_id": "not-a-uuid"},
        {"transactions": [{"id": "x"}]},
        {"transactions": "nope"},
    ],
)
async def test_malformed_batches_are_422_and_write_nothing(
    world: StockWorld, broken: dict[str, Any]
) -> None:
    store, headers = await member_of_new_store(world)
    item = await world.product(store)
    body = {**sync_body(store, transactions=[tx(item, "IN", 1)]), **broken}

    response = await world.client.post("/api/v1/sync", json=body, headers=headers)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert await transaction_count(world, store) == 0


# Online idempotency


async def test_online_transaction_resent_with_its_id_moves_stock_once(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    item = await world.product(store, stock=1)
    body = {"id": str(uuid.uuid4()), "product_id": str(item), "type": "IN", "quantity": 5}
    url = f"/api/v1/stores/{store}/inventory/transactions"

    first = await world.client.post(url, json=body, headers=headers)
    second = await world.client.post(url, json=body, headers=headers)
    conflicting = await world.client.post(url, json={**body, "quantity": 6}, headers=headers)

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["transaction"] == first.json()["transaction"]
    assert second.json()["stock"]["quantity"] == 6
    assert conflicting.status_code == 409
    assert conflicting.json()["error"]["code"] == "id_conflict"
    assert await stock_of(world, headers, store, item) == 6
    assert await transaction_count(world, store) == 2


async def test_offline_resend_of_an_online_transaction_is_a_duplicate(world: StockWorld) -> None:
    store, headers = await member_of_new_store(world)
    item = await world.product(store)
    transaction_id = uuid.uuid4()
    online = await world.client.post(
        f"/api/v1/stores/{store}/inventory/transactions",
        json={"id": str(transaction_id), "product_id": str(item), "type": "IN", "quantity": 3},
        headers=headers,
    )
    assert online.status_code == 201

    results = await push(
        world, headers, store, transactions=[tx(item, "IN", 3, record_id=transaction_id)]
    )

    assert statuses(results) == [("duplicate", None)]
    assert await stock_of(world, headers, store, item) == 3
