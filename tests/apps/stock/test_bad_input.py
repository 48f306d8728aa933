"""Schemathesis against a real `ensemble serve --app stock`: bad input is a 4xx, never a 5xx.

Every operation of the Stock OpenAPI document gets generated requests (valid and invalid:
wrong types, out-of-range numbers, NUL bytes, unexpected methods, …) sent as an admin over
real HTTP to a real server process on the test database. Every answer must be below 500, and
every 4xx must carry the one JSON error shape `{"error": {"code", "message", "details"}}`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.specs.openapi.schemas import OpenApiSchema

from ensemble.apps.stock.models import Role
from ensemble.kernel.db import Database
from tests.apicheck import (
    Server,
    assert_documented,
    assert_error_shape,
    call_fuzzed,
    fuzz_schema,
    send,
    serve,
)
from tests.apps.stock.conftest import StockWorld

# Fuzzing examples per operation (the coverage phase adds its own cases); raise it for a deep run.
MAX_EXAMPLES = int(os.environ.get("STOCK_FUZZ_EXAMPLES", "20"))


@pytest.fixture(scope="module")
def stock_server(
    database_url: str, redis_url: str, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A real server process on the (already migrated) test database."""
    with serve("stock", database_url, redis_url, tmp_path_factory.mktemp("stock-server")) as server:
        yield server


@dataclass(frozen=True)
class Known:
    """Rows that exist, so generated requests also reach past the 404s."""

    admin_headers: dict[str, str]
    values: dict[str, str]  # parameter name -> an existing id (or barcode)


@pytest.fixture
async def known(world: StockWorld) -> Known:
    admin = await world.actor()
    admin_headers = world.headers(admin, Role.ADMIN, [])
    store = await world.store("Fuzzed")
    category = await world.client.post(
        f"/api/v1/stores/{store}/categories", json={"name": "Fuzzed"}, headers=admin_headers
    )
    assert category.status_code == 201, category.text
    category_id = category.json()["id"]
    product = await world.product(store, barcode="FUZZ-0001", stock=5, category_id=category_id)
    worker = await world.user(Role.WORKER, [store])
    return Known(
        admin_headers=admin_headers,
        values={
            "store_id": str(store),
            "category_id": category_id,
            "product_id": str(product),
            "user_id": str(worker),
            "barcode": "FUZZ-0001",
        },
    )


@pytest.fixture
def stock_schema(stock_server: Server) -> OpenApiSchema:
    return fuzz_schema(stock_server, MAX_EXAMPLES)


schema = schemathesis.pytest.from_fixture("stock_schema")


@schema.parametrize()
def test_bad_input_is_a_4xx_with_the_error_shape(
    case: Case[Any], known: Known, stock_server: Server
) -> None:
    # Every store id exists (a missing one is a 403 before anything else runs).
    response = call_fuzzed(
        case, stock_server, known.admin_headers, known.values,
        always={"store_id"}, free_form={"barcode"},
    )  # fmt: skip
    assert_documented(case, response)


def test_server_shares_the_test_database_and_key(stock_server: Server, known: Known) -> None:
    """Guards the fuzz run against passing vacuously on 401s or on an empty database."""
    me = httpx.get(f"{stock_server.base_url}/api/v1/auth/me", headers=known.admin_headers)
    assert me.status_code == 200, me.text
    store = httpx.get(
        f"{stock_server.base_url}/api/v1/stores/{known.values['store_id']}",
        headers=known.admin_headers,
    )
    assert store.status_code == 200, store.text


# Values PostgreSQL refuses although the schemas accept them: NUL in text, datetimes whose
# UTC form leaves PostgreSQL's range. Sampled fuzzing may miss one; these always run.
NUL = "a\u0000b"
AFTER_MAX, BEFORE_MIN = "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"
STORE = "/api/v1/stores/{store_id}"


def bad(
    label: str, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
) -> Any:
    return pytest.param(method, path, body, params, id=label)


def sync_body(**records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"device_id": "tablet", "store_id": "{store_id}", **records}


def movement(**fields: Any) -> dict[str, Any]:
    return {"product_id": "{product_id}", "type": "IN", "quantity": 1, **fields}


PRODUCT = {"barcode": "P-NEW", "name": "x", "unit_price": 1}
SYNCED_PRODUCT = {**PRODUCT, "id": str(uuid.uuid4()), "updated_at": "2024-01-01T00:00:00Z"}
REJECTED_BY_POSTGRES = [
    bad("login email NUL", "POST", "/api/v1/auth/login", {"email": NUL, "password": "x"}),
    bad(
        "user name NUL",
        "POST",
        "/api/v1/users",
        {"email": "n@example.com", "password": "12345678", "name": NUL},
    ),
    bad("user rename NUL", "PATCH", "/api/v1/users/{user_id}", {"name": NUL}),
    bad("store name NUL", "POST", "/api/v1/stores", {"name": NUL}),
    bad("store address NUL", "PATCH", STORE, {"address": NUL}),
    bad("category name NUL", "POST", f"{STORE}/categories", {"name": NUL}),
    bad("category rename NUL", "PATCH", f"{STORE}/categories/{{category_id}}", {"name": NUL}),
    bad("product barcode NUL", "POST", f"{STORE}/products", {**PRODUCT, "barcode": NUL}),
    bad("product updated_at", "POST", f"{STORE}/products", {**PRODUCT, "updated_at": AFTER_MAX}),
    bad("product rename NUL", "PATCH", f"{STORE}/products/{{product_id}}", {"name": NUL}),
    bad("product search NUL", "GET", f"{STORE}/products", params={"q": NUL}),
    bad("barcode lookup NUL", "GET", f"{STORE}/products/barcode/a%00b"),
    bad("movement reason NUL", "POST", f"{STORE}/inventory/transactions", movement(reason=NUL)),
    bad(
        "movement occurred_at",
        "POST",
        f"{STORE}/inventory/transactions",
        movement(occurred_at=BEFORE_MIN),
    ),
    bad("log since", "GET", f"{STORE}/inventory/transactions", params={"since": AFTER_MAX}),
    bad("log until", "GET", f"{STORE}/inventory/transactions", params={"until": BEFORE_MIN}),
    bad(
        "sync device NUL",
        "POST",
        "/api/v1/sync",
        {**sync_body(products=[SYNCED_PRODUCT]), "device_id": NUL},
    ),
    bad(
        "sync product NUL",
        "POST",
        "/api/v1/sync",
        sync_body(products=[{**SYNCED_PRODUCT, "name": NUL}]),
    ),
    bad(
        "sync movement dates",
        "POST",
        "/api/v1/sync",
        sync_body(
            transactions=[
                movement(id=str(uuid.uuid4()), occurred_at=AFTER_MAX, created_at=BEFORE_MIN)
            ]
        ),
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "params"), REJECTED_BY_POSTGRES)
def test_values_postgres_rejects_are_a_4xx(
    stock_server: Server,
    known: Known,
    method: str,
    path: str,
    body: Any,
    params: dict[str, str] | None,
) -> None:
    response = send(
        stock_server, method, path,
        body=body, params=params, headers=known.admin_headers, values=known.values,
    )  # fmt: skip
    assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    assert_error_shape(response.json())
