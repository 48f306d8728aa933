"""Stock's OpenAPI document tells the truth: every status an operation can answer is listed
(errors with the one error shape), fixed vocabularies are enums, and `/sync` states its
offline rule for an OUT below zero."""

from __future__ import annotations

from typing import get_args

from httpx import AsyncClient

from ensemble.apps.stock.schemas import SyncReason
from tests.apicheck import documented_statuses, errors_not_in_error_shape, openapi_document

API = "/api/v1"
MEMBER = {"401", "403", "404", "422"}
ADMIN = {"401", "403", "422"}

# What each operation can answer, read from the code: 401 from the bearer and a disabled
# account; 403 from the admin role and store assignment; 404 from a missing store (admins)
# or item; 409 from the conflicts the service raises or a unique key (category names); 422 from
# any parameter or body (and `invalid_cursor`, `unknown_store`, `unknown_category`, …).
ANSWERS: dict[tuple[str, str], set[str]] = {
    ("GET", "/auth/me"): {"200", "401"},
    ("POST", "/users"): {"201", "409"} | ADMIN,
    ("GET", "/users"): {"200"} | ADMIN,
    ("GET", "/users/{user_id}"): {"200", "404"} | ADMIN,
    ("PATCH", "/users/{user_id}"): {"200", "404"} | ADMIN,
    ("POST", "/stores"): {"201"} | ADMIN,
    ("GET", "/stores"): {"200", "401", "422"},
    ("GET", "/stores/{store_id}"): {"200"} | MEMBER,
    ("PATCH", "/stores/{store_id}"): {"200"} | MEMBER,
    ("GET", "/stores/{store_id}/categories"): {"200"} | MEMBER,
    ("POST", "/stores/{store_id}/categories"): {"201", "409"} | MEMBER,
    ("PATCH", "/stores/{store_id}/categories/{category_id}"): {"200", "409"} | MEMBER,
    ("DELETE", "/stores/{store_id}/categories/{category_id}"): {"204"} | MEMBER,
    ("GET", "/stores/{store_id}/products"): {"200"} | MEMBER,
    ("POST", "/stores/{store_id}/products"): {"200", "201", "409"} | MEMBER,
    ("GET", "/stores/{store_id}/products/barcode/{barcode}"): {"200"} | MEMBER,
    ("GET", "/stores/{store_id}/products/{product_id}"): {"200"} | MEMBER,
    ("PATCH", "/stores/{store_id}/products/{product_id}"): {"200", "409"} | MEMBER,
    ("DELETE", "/stores/{store_id}/products/{product_id}"): {"204"} | MEMBER,
    ("POST", "/stores/{store_id}/inventory/transactions"): {"200", "201", "409"} | MEMBER,
    ("GET", "/stores/{store_id}/inventory/transactions"): {"200"} | MEMBER,
    ("GET", "/stores/{store_id}/inventory/stock"): {"200"} | MEMBER,
    ("GET", "/stores/{store_id}/inventory/stock/{product_id}"): {"200"} | MEMBER,
    ("POST", "/sync"): {"200"} | MEMBER,
    ("GET", "/sync/changes"): {"200"} | MEMBER,
    ("GET", "/sync/snapshot"): {"200"} | MEMBER,
}
KERNEL = {"/auth/login", "/auth/refresh", "/auth/logout"}  # the kernel's identity routes


async def test_every_status_an_operation_answers_is_documented(stock_client: AsyncClient) -> None:
    documented = documented_statuses(await openapi_document(stock_client), API)
    assert {op: documented[op] for op in documented if op[1] not in KERNEL} == ANSWERS


async def test_every_documented_error_has_the_error_shape(stock_client: AsyncClient) -> None:
    document = await openapi_document(stock_client)
    assert errors_not_in_error_shape(document, lambda path: path.removeprefix(API) in KERNEL) == []


async def test_sync_verdicts_are_enums_and_the_offline_out_rule_is_stated(
    stock_client: AsyncClient,
) -> None:
    document = await openapi_document(stock_client)
    result = document["components"]["schemas"]["SyncResult"]["properties"]
    assert result["status"]["enum"] == ["applied", "duplicate", "superseded", "rejected"]
    reasons = next(choice for choice in result["reason"]["anyOf"] if "enum" in choice)
    assert reasons["enum"] == list(get_args(SyncReason))
    assert "negative_stock" in reasons["enum"]
    push = " ".join(document["paths"][f"{API}/sync"]["post"]["description"].split())
    assert "below zero is still **applied**" in push
    assert '`reason: "negative_stock"`' in push


async def test_the_snapshot_is_documented_as_ndjson_lines(stock_client: AsyncClient) -> None:
    document = await openapi_document(stock_client)
    ok = document["paths"][f"{API}/sync/snapshot"]["get"]["responses"]["200"]
    assert list(ok["content"]) == ["application/x-ndjson"]
    lines = ok["content"]["application/x-ndjson"]["schema"]["oneOf"]
    assert [line["properties"]["kind"]["const"] for line in lines] == [
        "category",
        "product",
        "stock",
        "end",
    ]
