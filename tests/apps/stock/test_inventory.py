"""Stock movement rules: signed deltas, the zero floor, idempotent re-send, append-only log."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ensemble.apps.stock.auth import REALM, StoreAccess
from ensemble.apps.stock.inventory import service as inventory
from ensemble.apps.stock.models import Role, Store, TransactionType
from ensemble.apps.stock.schemas import StorePublic, TransactionCreate
from ensemble.kernel.errors import AppError
from ensemble.kernel.identity.principal import Principal
from tests.apps.stock.conftest import StockWorld


def _moves(store: uuid.UUID) -> str:
    return f"/api/v1/stores/{store}/inventory/transactions"


async def _move(
    world: StockWorld, store: uuid.UUID, headers: dict[str, str], product: uuid.UUID, kind: str,
    quantity: int, **extra: object,
) -> tuple[int, dict[str, object]]:  # fmt: skip
    body = {"product_id": str(product), "type": kind, "quantity": quantity, **extra}
    response = await world.client.post(_moves(store), json=body, headers=headers)
    return response.status_code, response.json()


async def _stock(
    world: StockWorld, store: uuid.UUID, headers: dict[str, str], product: uuid.UUID
) -> int:
    response = await world.client.get(
        f"/api/v1/stores/{store}/inventory/stock/{product}", headers=headers
    )
    assert response.status_code == 200
    quantity: int = response.json()["quantity"]
    return quantity


@pytest.mark.parametrize(
    ("kind", "quantity", "expected"),
    [("IN", 5, 15), ("OUT", 4, 6), ("ADJUST", -3, 7), ("ADJUST", 7, 17)],
)
async def test_each_type_moves_stock_by_its_signed_delta(
    world: StockWorld, kind: str, quantity: int, expected: int
) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    product = await world.product(store, stock=10)
    status, body = await _move(world, store, headers, product, kind, quantity)
    assert status == 201
    assert body["stock"]["quantity"] == expected  # type: ignore[index]
    assert await _stock(world, store, headers, product) == expected


@pytest.mark.parametrize(
    ("kind", "quantity", "code"),
    [
        ("IN", 0, "quantity_not_positive"),
        ("OUT", -2, "quantity_not_positive"),
        ("ADJUST", 0, "adjust_quantity_zero"),
    ],
)
async def test_invalid_quantities_are_refused_without_a_write(
    world: StockWorld, kind: str, quantity: int, code: str
) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    product = await world.product(store, stock=3)
    status, body = await _move(world, store, headers, product, kind, quantity)
    assert status == 422
    assert body["error"]["code"] == code  # type: ignore[index]
    assert await _stock(world, store, headers, product) == 3


async def test_out_below_zero_is_409_and_changes_nothing(world: StockWorld) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    product = await world.product(store, stock=2)
    status, body = await _move(world, store, headers, product, "OUT", 3)
    assert status == 409
    assert body["error"] == {
        "code": "insufficient_stock",
        "message": body["error"]["message"],  # type: ignore[index]
        "details": {"available": 2, "requested": 3},
    }
    log = await world.client.get(_moves(store), headers=headers)
    assert [t["type"] for t in log.json()["items"]] == ["IN"]
    assert await _stock(world, store, headers, product) == 2


async def _log_length(world: StockWorld, product: uuid.UUID) -> int:
    async with world.database.unit_of_work() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM stock.inventory_transactions WHERE product_id = :p"),
            {"p": product},
        )
    return int(count or 0)


async def test_refused_out_as_a_sessions_first_statement_leaves_no_log_row(
    world: StockWorld,
) -> None:
    """The one-statement move appends before it checks stock; the refusal rolls the append
    back only if the statement ran inside the session's transaction, also when it is the
    first statement the session sends."""
    store_id = await world.store()
    product = await world.product(store_id, stock=2)
    async with world.database.unit_of_work() as session:
        store = await session.get(Store, store_id)
    assert store is not None
    access = StoreAccess(
        StorePublic.model_validate(store),
        Principal(await world.actor(), REALM, Role.ADMIN.value, {}),
    )
    movement = TransactionCreate(product_id=product, type=TransactionType.OUT, quantity=3)
    with pytest.raises(AppError, match="Not enough stock"):
        async with world.database.unit_of_work() as session:
            await inventory.record_transaction(session, access, movement)
    assert await _log_length(world, product) == 1


async def test_store_allowing_negative_stock_accepts_the_out(world: StockWorld) -> None:
    store = await world.store(allow_negative_stock=True)
    headers = await world.worker_headers([store])
    product = await world.product(store, stock=1)
    status, body = await _move(world, store, headers, product, "OUT", 4)
    assert status == 201
    assert body["stock"]["quantity"] == -3  # type: ignore[index]


async def test_resending_the_same_id_applies_once(world: StockWorld) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    product = await world.product(store)
    movement_id = str(uuid.uuid4())
    first = await _move(world, store, headers, product, "IN", 6, id=movement_id)
    second = await _move(world, store, headers, product, "IN", 6, id=movement_id)
    assert (first[0], second[0]) == (201, 200)
    assert first[1]["transaction"] == second[1]["transaction"]
    assert await _stock(world, store, headers, product) == 6


async def test_same_id_with_other_content_is_a_conflict(world: StockWorld) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    product = await world.product(store)
    movement_id = str(uuid.uuid4())
    await _move(world, store, headers, product, "IN", 6, id=movement_id)
    status, body = await _move(world, store, headers, product, "IN", 7, id=movement_id)
    assert status == 409
    assert body["error"]["code"] == "id_conflict"  # type: ignore[index]
    assert await _stock(world, store, headers, product) == 6


async def test_unknown_or_deleted_product_is_404(world: StockWorld) -> None:
    store = await world.store()
    admin = await world.admin_headers()
    product = await world.product(store, stock=1)
    assert (
        await world.client.delete(f"/api/v1/stores/{store}/products/{product}", headers=admin)
    ).status_code == 204
    for target in (product, uuid.uuid4()):
        status, body = await _move(world, store, admin, target, "IN", 1)
        assert status == 404
        assert body["error"]["code"] == "product_not_found"  # type: ignore[index]


async def test_log_is_append_only_in_the_database(world: StockWorld) -> None:
    store = await world.store()
    await world.product(store, stock=5)
    for statement in (
        "UPDATE stock.inventory_transactions SET quantity = 99",
        "DELETE FROM stock.inventory_transactions",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with world.database.unit_of_work() as session:
                await session.execute(text(statement))


async def test_log_lists_newest_first_with_filters_and_cursor(world: StockWorld) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    product = await world.product(store)
    other = await world.product(store)
    times = ["2026-01-01T10:00:00+00:00", "2026-01-02T10:00:00+00:00", "2026-01-03T10:00:00+00:00"]
    for when in times:
        await _move(world, store, headers, product, "IN", 1, occurred_at=when)
    await _move(world, store, headers, other, "IN", 1, occurred_at=times[1])

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {
            "product_id": str(product),
            "limit": "2",
            **({"cursor": cursor} if cursor else {}),
        }
        page = (await world.client.get(_moves(store), params=params, headers=headers)).json()
        seen += [t["occurred_at"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["2026-01-03T10:00:00Z", "2026-01-02T10:00:00Z", "2026-01-01T10:00:00Z"]

    window = {"since": times[1], "until": times[2], "type": "IN"}
    ranged = (await world.client.get(_moves(store), params=window, headers=headers)).json()
    assert sorted(t["product_id"] for t in ranged["items"]) == sorted([str(product), str(other)])


async def test_stock_list_flags_low_products(world: StockWorld) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    low = await world.product(store, stock=2, safety_stock=5)
    await world.product(store, stock=9, safety_stock=5)
    everything = await world.client.get(f"/api/v1/stores/{store}/inventory/stock", headers=headers)
    assert len(everything.json()["items"]) == 2
    only_low = await world.client.get(
        f"/api/v1/stores/{store}/inventory/stock", params={"low_only": "true"}, headers=headers
    )
    assert [(s["product_id"], s["is_low"]) for s in only_low.json()["items"]] == [(str(low), True)]


async def test_check_stock_reports_drift(world: StockWorld) -> None:
    store = await world.store()
    product = await world.product(store, stock=4)
    async with world.database.unit_of_work() as session:
        assert await inventory.stock_drift(session) == []
        await session.execute(
            text("UPDATE stock.current_stock SET quantity = 40 WHERE product_id = :p"),
            {"p": product},
        )
        drift = await inventory.stock_drift(session)
    assert [(d["product_id"], d["kept"], d["from_log"]) for d in drift] == [(product, 40, 4)]
