"""A wrong JSON type or a malformed query value is a 422 with the error shape, and writes
nothing; ids and instants still come as JSON strings."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ensemble.apps.stock.models import Role
from tests.apicheck import assert_error
from tests.apps.stock.conftest import StockWorld


def _refused_at(response: Any, *loc: str) -> None:
    error = assert_error(response, 422, "validation_error")
    assert [tuple(d["loc"]) for d in error["details"]] == [loc], error


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", "5"), ("quantity", 5.0), ("quantity", True), ("occurred_at", 0.5)],
)
async def test_a_movement_with_a_wrong_type_is_422_and_moves_nothing(
    world: StockWorld, field: str, value: object
) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    product = await world.product(store, stock=2)
    body = {"product_id": str(product), "type": "IN", "quantity": 5, field: value}
    moves = f"/api/v1/stores/{store}/inventory/transactions"
    _refused_at(await world.client.post(moves, json=body, headers=headers), "body", field)
    stock = await world.client.get(
        f"/api/v1/stores/{store}/inventory/stock/{product}", headers=headers
    )
    assert stock.json()["quantity"] == 2


async def test_json_strings_for_ids_types_and_instants_are_taken(world: StockWorld) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    product = await world.product(store)
    body = {
        "id": str(uuid.uuid4()),
        "product_id": str(product),
        "type": "IN",
        "quantity": 5,
        "occurred_at": "2026-01-02T10:00:00+09:00",
    }
    moves = f"/api/v1/stores/{store}/inventory/transactions"
    recorded = await world.client.post(moves, json=body, headers=headers)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["transaction"]["occurred_at"] == "2026-01-02T01:00:00Z"


@pytest.mark.parametrize("value", [0, 1, "false", "no"])
async def test_an_int_or_a_string_for_a_bool_is_422(world: StockWorld, value: object) -> None:
    admin = await world.admin_headers()
    worker = await world.user(Role.WORKER)
    patched = await world.client.patch(
        f"/api/v1/users/{worker}", json={"is_active": value}, headers=admin
    )
    _refused_at(patched, "body", "is_active")
    me = await world.client.get(f"/api/v1/users/{worker}", headers=admin)
    assert me.json()["is_active"] is True


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/inventory/transactions", {"limit": "2.0"}),
        ("/inventory/transactions", {"limit": "2.5"}),
        ("/inventory/transactions", {"since": "0.5"}),
        ("/inventory/transactions", {"until": "1767315600"}),
        ("/products", {"limit": " 2"}),
        ("/inventory/stock", {"limit": "1e2"}),
    ],
)
async def test_a_malformed_number_or_instant_in_the_query_is_422(
    world: StockWorld, path: str, query: dict[str, str]
) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    response = await world.client.get(
        f"/api/v1/stores/{store}{path}", params=query, headers=headers
    )
    _refused_at(response, "query", *query)


async def test_a_float_limit_on_the_change_feed_is_422(world: StockWorld) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    params = {"store_id": str(store), "limit": "10.0"}
    _refused_at(
        await world.client.get("/api/v1/sync/changes", params=params, headers=headers),
        "query",
        "limit",
    )
