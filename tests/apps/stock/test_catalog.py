"""Users, stores, categories and products: CRUD, search, pagination, soft delete."""

from __future__ import annotations

import uuid
from typing import Any

from ensemble.apps.stock.models import Role
from tests.apps.stock.conftest import PASSWORD, StockWorld

API = "/api/v1"


async def _all_pages(
    world: StockWorld, path: str, headers: dict[str, str], **params: str
) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = (await world.client.get(path, params=query, headers=headers)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_admin_creates_a_worker_who_logs_in_with_the_store_claim(world: StockWorld) -> None:
    store = await world.store()
    admin = await world.admin_headers()
    created = await world.client.post(
        f"{API}/users",
        json={
            "email": "Kim@Example.com",
            "password": PASSWORD,
            "name": "Kim",
            "role": "WORKER",
            "store_ids": [str(store)],
        },
        headers=admin,
    )
    assert created.status_code == 201
    assert created.json()["email"] == "kim@example.com"
    login = await world.client.post(
        f"{API}/auth/login", json={"email": "kim@example.com", "password": PASSWORD}
    )
    token = login.json()["access_token"]
    me = await world.client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["store_ids"] == [str(store)]
    assert me.json()["role"] == "WORKER"
    again = await world.client.post(
        f"{API}/users",
        json={"email": "kim@example.com", "password": PASSWORD, "name": "K2"},
        headers=admin,
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "email_taken"


async def test_user_validation_and_update(world: StockWorld) -> None:
    admin = await world.admin_headers()
    short = await world.client.post(
        f"{API}/users",
        json={"email": "a@example.com", "password": "short", "name": "A"},
        headers=admin,
    )
    assert short.status_code == 422
    unknown_store = await world.client.post(
        f"{API}/users",
        json={
            "email": "b@example.com",
            "password": PASSWORD,
            "name": "B",
            "store_ids": [str(uuid.uuid4())],
        },
        headers=admin,
    )
    assert unknown_store.status_code == 422
    assert unknown_store.json()["error"]["code"] == "unknown_store"
    store = await world.store()
    user = await world.user()
    patched = await world.client.patch(
        f"{API}/users/{user}",
        json={"role": "ADMIN", "store_ids": [str(store)], "name": "Lee"},
        headers=admin,
    )
    assert patched.status_code == 200
    assert (patched.json()["role"], patched.json()["store_ids"], patched.json()["name"]) == (
        "ADMIN",
        [str(store)],
        "Lee",
    )
    listed = await _all_pages(world, f"{API}/users", admin, limit="1")
    assert str(user) in {u["id"] for u in listed}
    assert (await world.client.get(f"{API}/users/{uuid.uuid4()}", headers=admin)).status_code == 404


async def test_stores_admin_sees_all_worker_sees_assigned(world: StockWorld) -> None:
    admin = await world.admin_headers()
    created = await world.client.post(
        f"{API}/stores", json={"name": "North", "address": "1 Road"}, headers=admin
    )
    assert created.status_code == 201
    assert created.json()["allow_negative_stock"] is False
    north = created.json()["id"]
    south = await world.store("South")
    worker = await world.worker_headers([south])
    assert {s["id"] for s in await _all_pages(world, f"{API}/stores", admin, limit="1")} == {
        north,
        str(south),
    }
    assert [s["id"] for s in await _all_pages(world, f"{API}/stores", worker)] == [str(south)]
    patched = await world.client.patch(
        f"{API}/stores/{north}", json={"allow_negative_stock": True}, headers=admin
    )
    assert patched.json()["allow_negative_stock"] is True
    assert patched.json()["name"] == "North"


async def test_categories_crud_and_soft_delete(world: StockWorld) -> None:
    store = await world.store()
    admin = await world.admin_headers()
    worker = await world.worker_headers([store])
    path = f"{API}/stores/{store}/categories"
    created = await world.client.post(path, json={"name": "Drinks"}, headers=admin)
    assert created.status_code == 201
    category = created.json()["id"]
    duplicate = await world.client.post(path, json={"name": "Drinks"}, headers=admin)
    assert duplicate.status_code == 409
    renamed = await world.client.patch(
        f"{path}/{category}", json={"name": "Beverages"}, headers=admin
    )
    assert renamed.json()["name"] == "Beverages"
    assert [c["name"] for c in (await world.client.get(path, headers=worker)).json()["items"]] == [
        "Beverages"
    ]
    assert (await world.client.delete(f"{path}/{category}", headers=admin)).status_code == 204
    assert (await world.client.get(path, headers=worker)).json()["items"] == []
    assert (
        await world.client.patch(f"{path}/{category}", json={"name": "X"}, headers=admin)
    ).status_code == 404


async def test_product_barcode_is_unique_per_store(world: StockWorld) -> None:
    store, other = await world.store(), await world.store("Other")
    admin = await world.admin_headers()
    body = {"barcode": "8800000000001", "name": "Tea", "unit_price": 900}
    assert (
        await world.client.post(f"{API}/stores/{store}/products", json=body, headers=admin)
    ).status_code == 201
    clash = await world.client.post(f"{API}/stores/{store}/products", json=body, headers=admin)
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "barcode_taken"
    assert (
        await world.client.post(f"{API}/stores/{other}/products", json=body, headers=admin)
    ).status_code == 201


async def test_product_create_with_client_id_is_idempotent(world: StockWorld) -> None:
    store = await world.store()
    headers = await world.worker_headers([store])
    body = {"id": str(uuid.uuid4()), "barcode": "123", "name": "Gum", "unit_price": 100}
    first = await world.client.post(f"{API}/stores/{store}/products", json=body, headers=headers)
    second = await world.client.post(f"{API}/stores/{store}/products", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"] == body["id"]
    changed = await world.client.post(
        f"{API}/stores/{store}/products", json={**body, "name": "Other"}, headers=headers
    )
    assert changed.status_code == 409


async def test_product_update_search_and_soft_delete(world: StockWorld) -> None:
    store = await world.store()
    admin = await world.admin_headers()
    worker = await world.worker_headers([store])
    category = (
        await world.client.post(
            f"{API}/stores/{store}/categories", json={"name": "Snacks"}, headers=admin
        )
    ).json()["id"]
    chips = await world.product(
        store, barcode="880111", name="Potato Chips", stock=1, safety_stock=3
    )
    await world.product(store, barcode="880222", name="Cola", stock=10, safety_stock=3)
    await world.product(store, barcode="990333", name="chocolate", category_id=uuid.UUID(category))
    products = f"{API}/stores/{store}/products"

    async def names(**params: str) -> list[str]:
        return sorted(p["name"] for p in await _all_pages(world, products, worker, **params))

    assert await names(q="c") == ["Cola", "chocolate"]
    assert await names(q="880") == ["Cola", "Potato Chips"]
    assert await names(q="%") == []
    assert await names(category_id=category) == ["chocolate"]
    assert await names(low_stock="true") == ["Potato Chips", "chocolate"]
    assert len(await _all_pages(world, products, worker, limit="1")) == 3

    patched = await world.client.patch(
        f"{products}/{chips}", json={"name": "Chips", "category_id": category}, headers=worker
    )
    assert (patched.json()["name"], patched.json()["category_id"], patched.json()["stock"]) == (
        "Chips",
        category,
        1,
    )
    bad_category = await world.client.patch(
        f"{products}/{chips}", json={"category_id": str(uuid.uuid4())}, headers=worker
    )
    assert bad_category.status_code == 422
    taken = await world.client.patch(
        f"{products}/{chips}", json={"barcode": "880222"}, headers=worker
    )
    assert taken.status_code == 409

    assert (await world.client.delete(f"{products}/{chips}", headers=worker)).status_code == 403
    assert (await world.client.delete(f"{products}/{chips}", headers=admin)).status_code == 204
    assert (await world.client.get(f"{products}/{chips}", headers=worker)).status_code == 404
    assert await names() == ["Cola", "chocolate"]
    history = await world.client.get(
        f"{API}/stores/{store}/inventory/transactions",
        params={"product_id": str(chips)},
        headers=worker,
    )
    assert len(history.json()["items"]) == 1, "soft delete keeps the history"
    reused = await world.client.post(
        products, json={"barcode": "880111", "name": "New chips", "unit_price": 1}, headers=admin
    )
    assert reused.status_code == 201, "a deleted product's barcode is free again"


async def test_role_store_and_activity_changes_apply_to_live_tokens(world: StockWorld) -> None:
    """A token is 60 minutes long; taking a store, a role or the account away acts at once,
    also for a caller the auth cache holds."""
    await world.live_auth_cache()
    store = await world.store()
    admin = await world.admin_headers()
    worker_id = await world.user(stores=[store])
    worker = world.headers(worker_id, Role.WORKER, [store])
    products = f"{API}/stores/{store}/products"
    assert (await world.client.get(products, headers=worker)).status_code == 200

    await world.client.patch(f"{API}/users/{worker_id}", json={"store_ids": []}, headers=admin)
    assert (await world.client.get(products, headers=worker)).status_code == 403

    boss_id = await world.user(Role.ADMIN)
    boss = world.headers(boss_id, Role.ADMIN, [])
    assert (await world.client.get(f"{API}/users", headers=boss)).status_code == 200
    await world.client.patch(f"{API}/users/{boss_id}", json={"role": "WORKER"}, headers=admin)
    assert (await world.client.get(f"{API}/users", headers=boss)).status_code == 403

    await world.client.patch(f"{API}/users/{worker_id}", json={"is_active": False}, headers=admin)
    refused = await world.client.get(f"{API}/stores", headers=worker)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "account_disabled"
