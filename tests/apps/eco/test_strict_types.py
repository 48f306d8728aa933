"""A wrong JSON type or a malformed query value is a 422 with the error shape, and writes
nothing; ids and instants still come as strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.apicheck import assert_error
from tests.apps.eco.conftest import API, EcoWorld, eco_rows


def _refused_at(response: Any, *loc: str) -> None:
    error = assert_error(response, 422, "validation_error")
    assert [tuple(d["loc"]) for d in error["details"]] == [loc], error


@pytest.mark.parametrize(("field", "value"), [("size", "5"), ("size", 5.0), ("size", True)])
async def test_a_wrong_type_for_an_integer_is_422_and_writes_nothing(
    eco: EcoWorld, field: str, value: object
) -> None:
    user = await eco.user()
    before = await eco_rows(eco.database)
    body = {"content_type": "image/jpeg", "size": 5, field: value}
    presigned = await eco.client.post(
        f"{API}/images/presigned-url", json=body, headers=user.headers
    )
    _refused_at(presigned, "body", field)
    assert await eco_rows(eco.database) == before


@pytest.mark.parametrize(("field", "value"), [("image_id", 12345), ("user_input", 7)])
async def test_a_number_for_an_id_or_a_text_is_422(
    eco: EcoWorld, field: str, value: object
) -> None:
    user = await eco.user()
    classified = await eco.client.post(
        f"{API}/scan/classify", json={field: value}, headers=user.headers
    )
    _refused_at(classified, "body", field)


@pytest.mark.parametrize("at", ["0.5", "1767315600", "2026-01-02"])
async def test_a_history_instant_must_be_iso_8601_with_an_offset(eco: EcoWorld, at: str) -> None:
    user = await eco.user()
    history = await eco.client.get(
        f"{API}/characters/me/history", params={"at": at}, headers=user.headers
    )
    _refused_at(history, "query", "at")


async def test_a_history_instant_in_iso_8601_is_taken(eco: EcoWorld) -> None:
    user = await eco.user()
    history = await eco.client.get(
        f"{API}/characters/me/history",
        params={"at": "2026-01-02T10:00:00+09:00"},
        headers=user.headers,
    )
    assert history.status_code == 200, history.text
    at = datetime.fromisoformat(history.json()["at"])
    assert at == datetime(2026, 1, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/characters/ranking", {"limit": "2.0"}),
        ("/locations/nearby", {"lat": "37.5", "lng": "127.0", "limit": "5.0"}),
        ("/scan/history", {"limit": " 5"}),
    ],
)
async def test_a_float_for_an_integer_query_parameter_is_422(
    eco: EcoWorld, path: str, query: dict[str, str]
) -> None:
    user = await eco.user()
    response = await eco.client.get(f"{API}{path}", params=query, headers=user.headers)
    _refused_at(response, "query", "limit")
