"""Every app's main flows through the combined application, as `ensemble serve` runs it
(each app under `/<app>`), with the full paths the README gives: what the per-app tests
(each app alone at the root) cannot show, such as a route lookup across the mount."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from httpx import AsyncClient
from redis.asyncio import Redis

from ensemble.apps.stock import service as stock_service
from ensemble.apps.stock.models import Role
from ensemble.apps.stock.schemas import UserCreate
from ensemble.kernel.db import Database
from ensemble.settings import Settings
from tests.apicheck import bearer
from tests.apps.b0.conftest import B0World
from tests.apps.eco.conftest import PASSWORD, PHOTO, InlineSaga

STOCK, B0, ECO = "/stock/api/v1", "/b0/api/v1", "/eco/api/v1"
CASINO = "/casino/api"


def body_of(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_operations_and_index(combined_client: AsyncClient) -> None:
    assert body_of(await combined_client.get("/health"), 200) == {"status": "ok"}
    assert body_of(await combined_client.get("/ready"), 200)["status"] == "ready"
    apps = body_of(await combined_client.get("/"), 200)["apps"]
    assert {name: app["docs"] for name, app in apps.items()} == {
        "stock": "/stock/docs",
        "b0": "/b0/docs",
        "eco": "/eco/docs",
        "focus": "/focus/docs",
        "casino": "/casino/docs",
    }
    for name in apps:
        spec = body_of(await combined_client.get(f"/{name}/openapi.json"), 200)
        assert spec["servers"] == [{"url": f"/{name}"}]


async def test_stock_admin_product_stock_moves_and_lookups(
    combined_client: AsyncClient, database: Database
) -> None:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    account = {"email": email, "password": PASSWORD}
    async with database.unit_of_work() as session:  # as `ensemble stock create-admin` does
        admin_user = UserCreate(email=email, password=PASSWORD, name="Admin", role=Role.ADMIN)
        await stock_service.create_user(session, admin_user)
    tokens = body_of(await combined_client.post(f"{STOCK}/auth/login", json=account), 200)
    admin = bearer(tokens["access_token"])
    assert body_of(await combined_client.get(f"{STOCK}/auth/me", headers=admin), 200)["email"]
    store = body_of(
        await combined_client.post(f"{STOCK}/stores", json={"name": "Main"}, headers=admin), 201
    )["id"]
    product = body_of(
        await combined_client.post(
            f"{STOCK}/stores/{store}/products",
            json={"barcode": "8801234567890", "name": "Cola", "unit_price": 1200},
            headers=admin,
        ),
        201,
    )["id"]
    for kind, quantity, left in (("IN", 10, 10), ("OUT", 4, 6)):
        moved = await combined_client.post(
            f"{STOCK}/stores/{store}/inventory/transactions",
            json={"product_id": product, "type": kind, "quantity": quantity},
            headers=admin,
        )
        assert body_of(moved, 201)["stock"]["quantity"] == left
    found = await combined_client.get(
        f"{STOCK}/stores/{store}/products/barcode/8801234567890", headers=admin
    )
    assert (body_of(found, 200)["id"], found.json()["stock"]) == (product, 6)
    stock = await combined_client.get(
        f"{STOCK}/stores/{store}/inventory/stock/{product}", headers=admin
    )
    assert body_of(stock, 200)["quantity"] == 6
    listed = await combined_client.get(f"{STOCK}/stores/{store}/products", headers=admin)
    assert [each["id"] for each in body_of(listed, 200)["items"]] == [product]


async def test_b0_sign_up_catalogue_and_a_purchase(
    combined_client: AsyncClient, database: Database, settings: Settings
) -> None:
    world = B0World(settings=settings, database=database, client=combined_client)
    city, airship = await world.city(cost=100), await world.airship()
    sub = uuid.uuid4().hex
    alice = bearer(world.token(sub, email=f"{sub[:8]}@example.com"))
    user = body_of(await combined_client.post(f"{B0}/users", headers=alice), 201)
    points = body_of(await combined_client.get(f"{B0}/users/me", headers=alice), 200)
    assert points["current_points"] > 100
    cities = body_of(await combined_client.get(f"{B0}/cities", headers=alice), 200)
    assert str(city) in [each["city_id"] for each in cities["items"]]
    airships = body_of(await combined_client.get(f"{B0}/airships", headers=alice), 200)
    assert str(airship) in [each["airship_id"] for each in airships["items"]]
    ticket = body_of(
        await combined_client.post(
            f"{B0}/tickets",
            json={"city_id": str(city), "airship_id": str(airship)},
            headers=alice,
        ),
        201,
    )
    assert (ticket["status"], ticket["cost_points"]) == ("BOARDING", 100)
    after = body_of(await combined_client.get(f"{B0}/users/me", headers=alice), 200)
    assert after["current_points"] == points["current_points"] - 100
    assert after["user_id"] == user["user_id"]


async def test_eco_sign_up_upload_a_photo_and_classify_it(
    combined_client: AsyncClient, settings: Settings, database: Database, redis: Redis
) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    account = {"email": email, "password": PASSWORD}
    body_of(await combined_client.post(f"{ECO}/auth/signup", json=account), 201)
    tokens = body_of(await combined_client.post(f"{ECO}/auth/login", json=account), 200)
    user = bearer(tokens["access_token"])

    presigned = body_of(
        await combined_client.post(
            f"{ECO}/images/presigned-url",
            json={"content_type": "image/jpeg", "size": len(PHOTO), "filename": "pet_bottle.jpg"},
            headers=user,
        ),
        201,
    )
    target = urlsplit(presigned["upload_url"])
    assert target.path == f"{ECO}/images/uploads/{presigned['upload_id']}"
    put = await combined_client.put(
        f"{target.path}?{target.query}", content=PHOTO, headers=presigned["headers"]
    )
    assert put.status_code == 204, put.text
    image = body_of(
        await combined_client.post(
            f"{ECO}/images/register", json={"upload_id": presigned["upload_id"]}, headers=user
        ),
        201,
    )

    saga = InlineSaga(settings, database, redis)
    await saga.settle()  # the scan domain learns of the image
    accepted = await combined_client.post(
        f"{ECO}/scan/classify", json={"image_id": image["image_id"]}, headers=user
    )
    task_id = body_of(accepted, 202)["task_id"]
    await saga.settle()
    task = body_of(await combined_client.get(f"{ECO}/scan/tasks/{task_id}", headers=user), 200)
    assert (task["status"], task["category"]) == ("completed", "plastic")
    assert task["reward"]["status"] == "granted"


async def test_casino_sign_up_with_the_forever_code_and_log_in_by_nickname(
    combined_client: AsyncClient,
) -> None:
    nickname = f"c{uuid.uuid4().hex[:10]}"
    check = await combined_client.get(f"{CASINO}/auth/check-invite/5858")
    assert body_of(check, 200) == {"valid": True, "infinite": True, "reason": None}
    account = {"nickname": nickname, "password": PASSWORD}
    signup = {"invite_code": "5858", **account}
    user = body_of(await combined_client.post(f"{CASINO}/auth/signup", json=signup), 201)["user"]
    tokens = body_of(await combined_client.post(f"{CASINO}/auth/login", json=account), 200)
    me = await combined_client.get(f"{CASINO}/auth/me", headers=bearer(tokens["access_token"]))
    assert body_of(me, 200)["user_id"] == user["user_id"]
