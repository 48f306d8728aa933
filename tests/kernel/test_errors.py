"""One JSON error shape for every failure: app errors, 404, 405, 422, unexpected 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import APIRouter
from httpx import ASGITransport, AsyncClient

from ensemble.kernel.errors import Conflict, install_error_handlers
from ensemble.kernel.modules import AppModule
from ensemble.server import create_app
from ensemble.settings import Settings

probe = APIRouter()


@probe.get("/conflict")
async def conflict() -> None:
    raise Conflict("Taken.", code="taken", details={"field": "name"})


@probe.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals")


@probe.post("/items/{item_id}")
async def item(item_id: int, body: dict[str, int]) -> dict[str, int]:
    return {"id": item_id, **body}


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncClient]:
    module = AppModule(name="probe", title="Probe", description="", routers=[probe])
    app = create_app([module], settings, alone=True)
    install_error_handlers(app)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
        yield http


def _error(body: dict[str, object]) -> dict[str, object]:
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"code", "message", "details"}
    return error


async def test_app_error_keeps_code_and_details(client: AsyncClient) -> None:
    response = await client.get("/conflict")
    assert response.status_code == 409
    assert _error(response.json()) == {
        "code": "taken",
        "message": "Taken.",
        "details": {"field": "name"},
    }


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/missing", {}, 404, "not_found"),
        ("DELETE", "/conflict", {}, 405, "method_not_allowed"),
        ("POST", "/items/abc", {"json": {}}, 422, "validation_error"),
        (
            "POST",
            "/items/1",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            422,
            "validation_error",
        ),
        ("POST", "/items/1", {"json": {"a": "text"}}, 422, "validation_error"),
    ],
)
async def test_framework_errors_share_the_shape(
    client: AsyncClient, method: str, path: str, kwargs: dict[str, object], status: int, code: str
) -> None:
    response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert _error(response.json())["code"] == code


async def test_unexpected_error_is_500_without_internals(client: AsyncClient) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert _error(response.json())["code"] == "internal_error"
    assert "secret" not in response.text
    assert "Traceback" not in response.text
