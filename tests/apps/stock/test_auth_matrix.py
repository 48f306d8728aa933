"""Who may call what: every Stock endpoint against every kind of caller.

The table below lists every authenticated route of `ensemble.apps.stock.endpoints`; a guard
test fails when a route is added without a row here. Each row is exercised with no token,
an expired token, a token of another app, a worker of another store (for ids that exist there
and for ids that do not: both must be the same 403), and a worker of the right store.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ensemble.apps.stock.endpoints import routers
from ensemble.apps.stock.models import Role
from ensemble.kernel.db import Database, new_id, utcnow
from tests import apicheck
from tests.apicheck import assert_error, bearer, fill, http_routes
from tests.apps.stock.conftest import StockWorld

API = "/api/v1"
SYNC_TX, SYNC_PRODUCT = uuid.uuid4(), uuid.uuid4()


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # placeholders named as in the routes, filled from `Ids` per case
    body: Any = None
    admin_only: bool = False
    store_scoped: bool = True  # names a store in its path, query or body

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("GET", "/auth/me", store_scoped=False),
    Endpoint(
        "POST",
        "/users",
        {"email": "new@example.com", "password": "long-enough", "name": "N"},
        admin_only=True,
        store_scoped=False,
    ),
    Endpoint("GET", "/users", admin_only=True, store_scoped=False),
    Endpoint("GET", "/users/{user_id}", admin_only=True, store_scoped=False),
    Endpoint("PATCH", "/users/{user_id}", {"name": "Renamed"}, admin_only=True, store_scoped=False),
    Endpoint("POST", "/stores", {"name": "New store"}, admin_only=True, store_scoped=False),
    Endpoint("GET", "/stores", store_scoped=False),
    Endpoint("GET", "/stores/{store_id}"),
    Endpoint("PATCH", "/stores/{store_id}", {"name": "Renamed"}, admin_only=True),
    Endpoint("GET", "/stores/{store_id}/categories"),
    Endpoint("POST", "/stores/{store_id}/categories", {"name": "Drinks"}, admin_only=True),
    Endpoint(
        "PATCH", "/stores/{store_id}/categories/{category_id}", {"name": "Snacks"}, admin_only=True
    ),
    Endpoint("DELETE", "/stores/{store_id}/categories/{category_id}", admin_only=True),
    Endpoint("GET", "/stores/{store_id}/products"),
    Endpoint(
        "POST",
        "/stores/{store_id}/products",
        {"barcode": "NEW-1", "name": "Tea", "unit_price": 900},
    ),
    Endpoint("GET", "/stores/{store_id}/products/barcode/{barcode}"),
    Endpoint("GET", "/stores/{store_id}/products/{product_id}"),
    Endpoint("PATCH", "/stores/{store_id}/products/{product_id}", {"name": "Renamed"}),
    Endpoint("DELETE", "/stores/{store_id}/products/{product_id}", admin_only=True),
    Endpoint(
        "POST",
        "/stores/{store_id}/inventory/transactions",
        {"product_id": "{product_id}", "type": "IN", "quantity": 3},
    ),
    Endpoint("GET", "/stores/{store_id}/inventory/transactions"),
    Endpoint("GET", "/stores/{store_id}/inventory/stock"),
    Endpoint("GET", "/stores/{store_id}/inventory/stock/{product_id}"),
    Endpoint(
        "POST",
        "/sync",
        {
            "device_id": "tablet-1",
            "store_id": "{store_id}",
            "transactions": [
                {
                    "id": str(SYNC_TX),
                    "product_id": "{product_id}",
                    "type": "OUT",
                    "quantity": 2,
                    "occurred_at": "2024-05-01T10:00:00+00:00",
                    "created_at": "2024-05-01T10:00:00+00:00",
                }
            ],
            "products": [
                {
                    "id": str(SYNC_PRODUCT),
                    "barcode": "SYNC-1",
                    "name": "Synced",
                    "unit_price": 500,
                    "updated_at": "2024-05-01T10:00:00+00:00",
                }
            ],
        },
    ),
    Endpoint("GET", "/sync/changes?store_id={store_id}"),
    Endpoint("GET", "/sync/snapshot?store_id={store_id}"),
]
PUBLIC_ROUTES = {("POST", "/auth/login"), ("POST", "/auth/refresh"), ("POST", "/auth/logout")}
STORE_SCOPED = [e for e in ENDPOINTS if e.store_scoped]
ADMIN_ONLY = [e for e in ENDPOINTS if e.admin_only]
MEMBER_ENDPOINTS = [e for e in STORE_SCOPED if not e.admin_only]


def by_id(endpoints: list[Endpoint]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("endpoint", endpoints, ids=[e.id for e in endpoints])


@dataclasses.dataclass(frozen=True)
class Ids:
    """The values filled into an endpoint's placeholders (named as in the route paths)."""

    store_id: uuid.UUID
    product_id: uuid.UUID
    category_id: uuid.UUID
    barcode: str
    user_id: uuid.UUID

    @classmethod
    def missing(cls) -> Ids:
        return cls(new_id(), new_id(), new_id(), "NO-SUCH-BARCODE", new_id())


async def call(
    world: StockWorld, endpoint: Endpoint, ids: Ids, headers: dict[str, str]
) -> httpx.Response:
    values = dataclasses.asdict(ids)
    return await world.client.request(
        endpoint.method,
        API + fill(endpoint.path, values),
        json=fill(endpoint.body, values),
        headers=headers,
    )


TABLES = (
    "identity.accounts",
    "stock.users",
    "stock.user_stores",
    "stock.stores",
    "stock.categories",
    "stock.products",
    "stock.inventory_transactions",
    "stock.current_stock",
)


async def snapshot(database: Database) -> dict[str, list[str]]:
    """Every row the Stock API can write: equal snapshots mean nothing changed."""
    return await apicheck.snapshot(database, TABLES)


@dataclasses.dataclass(frozen=True)
class Scene:
    """Two stores with a category and a product each, and a worker assigned only to `own`."""

    own: Ids
    other: Ids
    worker: dict[str, str]


async def _stocked_store(world: StockWorld, name: str) -> Ids:
    admin = await world.actor()
    store = await world.store(name)
    category = await world.client.post(
        f"{API}/stores/{store}/categories",
        json={"name": "Food"},
        headers=world.headers(admin, Role.ADMIN, []),
    )
    assert category.status_code == 201, category.text
    category_id = uuid.UUID(category.json()["id"])
    barcode = f"{name}-0001"
    product = await world.product(store, barcode=barcode, stock=10, category_id=category_id)
    return Ids(store, product, category_id, barcode, admin)


@pytest.fixture
async def scene(world: StockWorld) -> Scene:
    own = await _stocked_store(world, "A")
    other = await _stocked_store(world, "B")
    return Scene(own=own, other=other, worker=await world.worker_headers([own.store_id]))


def test_table_lists_every_authenticated_route() -> None:
    routes = http_routes(routers, API)
    listed = {(e.method, e.path.split("?")[0]) for e in ENDPOINTS}
    assert routes - PUBLIC_ROUTES == listed
    assert routes >= PUBLIC_ROUTES


@pytest.mark.parametrize("token_kind", ["none", "expired", "foreign-audience"])
@by_id(ENDPOINTS)
async def test_unauthenticated_callers_get_401(
    world: StockWorld, endpoint: Endpoint, token_kind: str
) -> None:
    admin = new_id()
    headers = {
        "none": {},
        "expired": bearer(world.token(admin, Role.ADMIN, [], now=utcnow() - timedelta(hours=2))),
        "foreign-audience": bearer(world.token(admin, Role.ADMIN, [], realm="b0")),
    }[token_kind]
    before = await snapshot(world.database)
    response = await call(world, endpoint, Ids.missing(), headers)
    assert_error(response, 401)
    assert response.headers.get("www-authenticate") == "Bearer"
    assert await snapshot(world.database) == before


@by_id(STORE_SCOPED)
async def test_worker_gets_the_same_403_for_existing_and_missing_foreign_stores(
    world: StockWorld, scene: Scene, endpoint: Endpoint
) -> None:
    before = await snapshot(world.database)
    existing = await call(world, endpoint, scene.other, scene.worker)
    missing = await call(world, endpoint, Ids.missing(), scene.worker)
    assert_error(existing, 403)
    assert_error(missing, 403)
    assert existing.json() == missing.json()
    assert await snapshot(world.database) == before


@by_id(ADMIN_ONLY)
async def test_worker_gets_403_on_admin_only_endpoints_of_its_own_store(
    world: StockWorld, scene: Scene, endpoint: Endpoint
) -> None:
    before = await snapshot(world.database)
    response = await call(world, endpoint, scene.own, scene.worker)
    assert_error(response, 403, "role_forbidden")
    assert await snapshot(world.database) == before


@by_id(ADMIN_ONLY)
async def test_admin_may_call_admin_only_endpoints(
    world: StockWorld, scene: Scene, endpoint: Endpoint
) -> None:
    response = await call(world, endpoint, scene.own, await world.admin_headers())
    assert response.status_code < 300, response.text


@by_id(MEMBER_ENDPOINTS)
async def test_worker_may_use_its_own_store(
    world: StockWorld, scene: Scene, endpoint: Endpoint
) -> None:
    response = await call(world, endpoint, scene.own, scene.worker)
    assert response.status_code < 300, response.text


async def test_worker_lists_only_its_own_stores(world: StockWorld, scene: Scene) -> None:
    response = await world.client.get(f"{API}/stores", headers=scene.worker)
    assert response.status_code == 200
    assert [s["id"] for s in response.json()["items"]] == [str(scene.own.store_id)]


async def test_sync_push_into_a_foreign_store_writes_nothing(
    world: StockWorld, scene: Scene
) -> None:
    sync = next(e for e in ENDPOINTS if e.id == "POST /sync")
    assert_error(await call(world, sync, scene.other, scene.worker), 403, "store_forbidden")
    async with world.database.engine.connect() as conn:
        written = await conn.execute(
            text(
                "SELECT (SELECT count(*) FROM stock.inventory_transactions WHERE id = :tx)"
                " + (SELECT count(*) FROM stock.products WHERE id = :product)"
            ),
            {"tx": SYNC_TX, "product": SYNC_PRODUCT},
        )
        assert written.scalar_one() == 0
    stock = await world.client.get(
        f"{API}/stores/{scene.other.store_id}/inventory/stock/{scene.other.product_id}",
        headers=await world.admin_headers(),
    )
    assert stock.json()["quantity"] == 10


async def test_changes_of_a_foreign_store_are_403(world: StockWorld, scene: Scene) -> None:
    response = await world.client.get(
        f"{API}/sync/changes", params={"store_id": str(scene.other.store_id)}, headers=scene.worker
    )
    assert_error(response, 403, "store_forbidden")
