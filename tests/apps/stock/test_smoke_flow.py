"""The basic online flow through HTTP: product, stock in, stock out, barcode lookup."""

from __future__ import annotations

from tests.apps.stock.conftest import StockWorld


async def test_in_then_out_updates_stock_and_lookup(world: StockWorld) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    created = await world.client.post(
        f"/api/v1/stores/{store}/products",
        json={"barcode": "8801234567890", "name": "Cola", "unit_price": 1200, "safety_stock": 3},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    tx = await world.client.post(
        f"/api/v1/stores/{store}/inventory/transactions",
        json={"product_id": product_id, "type": "IN", "quantity": 10},
        headers=headers,
    )
    assert tx.status_code == 201
    assert tx.json()["stock"]["quantity"] == 10
    out = await world.client.post(
        f"/api/v1/stores/{store}/inventory/transactions",
        json={"product_id": product_id, "type": "OUT", "quantity": 8},
        headers=headers,
    )
    assert out.json()["stock"] == {**out.json()["stock"], "quantity": 2, "is_low": True}
    found = await world.client.get(
        f"/api/v1/stores/{store}/products/barcode/8801234567890", headers=headers
    )
    assert found.status_code == 200
    assert found.json()["stock"] == 2
