"""A wrong JSON type or a malformed query value is a 422 with the error shape, and writes
nothing; ids still come as JSON strings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apicheck import assert_error
from tests.apps.b0.conftest import B0World


def _refused_at(response: Any, *loc: str) -> None:
    error = assert_error(response, 422, "validation_error")
    assert [tuple(d["loc"]) for d in error["details"]] == [loc], error


@pytest.mark.parametrize(("field", "value"), [("city_id", 5), ("airship_id", True)])
async def test_a_number_or_bool_for_an_id_is_422_and_buys_nothing(
    b0: B0World, field: str, value: object
) -> None:
    traveller = await b0.traveller(points=500)
    body: dict[str, object] = {
        "city_id": str(await b0.city()),
        "airship_id": str(await b0.airship()),
    }
    bought = await b0.client.post(
        "/api/v1/tickets", json={**body, field: value}, headers=traveller.headers
    )
    _refused_at(bought, "body", field)
    me = await b0.client.get("/api/v1/users/me", headers=traveller.headers)
    assert me.json()["current_points"] == 500


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/diaries", {"title": 5, "content": "A day."}, "title"),
        ("/api/v1/diaries", {"title": "Day", "content": "A day.", "mood": 1}, "mood"),
        ("/api/v1/diaries", {"title": "Day", "content": True}, "content"),
    ],
)
async def test_a_number_or_bool_for_a_string_is_422(
    b0: B0World, path: str, body: dict[str, Any], field: str
) -> None:
    traveller = await b0.traveller()
    _refused_at(await b0.client.post(path, json=body, headers=traveller.headers), "body", field)
    diaries = await b0.client.get("/api/v1/diaries", headers=traveller.headers)
    assert diaries.json()["items"] == []


async def test_a_number_for_a_nickname_is_422(b0: B0World) -> None:
    traveller = await b0.traveller()
    patched = await b0.client.patch(
        "/api/v1/users/me", json={"nickname": 12345}, headers=traveller.headers
    )
    _refused_at(patched, "body", "nickname")


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/api/v1/points/transactions", "2.0"),
        ("/api/v1/cities", "2.5"),
        ("/api/v1/tickets", " 3"),
        ("/api/v1/diaries", "1e1"),
    ],
)
async def test_a_float_for_an_integer_query_parameter_is_422(
    b0: B0World, path: str, limit: str
) -> None:
    traveller = await b0.traveller()
    response = await b0.client.get(path, params={"limit": limit}, headers=traveller.headers)
    _refused_at(response, "query", "limit")
