"""The HTTP edge of the combined application (and of an app alone): security headers on
every response, `Allow` on 405, request-body limits, `/metrics` behind its token, and no
secret of a URL's query string in any log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from httpx import AsyncClient
from pydantic import SecretStr
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from ensemble.apps import load_apps
from ensemble.apps.stock.sync.endpoints import SYNC_MAX_BODY_BYTES
from ensemble.kernel.db import Database
from ensemble.kernel.edge import SECURITY_HEADERS
from ensemble.kernel.observability.logging import REDACTED, JsonFormatter
from ensemble.server import create_app
from ensemble.settings import Settings
from tests.apicheck import assert_error, bearer
from tests.conftest import in_process_client
from tests.serving import uvicorn_serving
from tests.streams import CHUNK, CountedBody

LOGIN = "/eco/api/v1/auth/login"
METRICS_TOKEN = "metrics-token-0123456789"


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS:
        assert response.headers.get(name.decode()) == value.decode(), (name, response.headers)


# Security headers and 405


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/", 200),
        ("GET", "/nowhere", 404),
        ("DELETE", "/health", 405),
        ("GET", "/stock/api/v1/stores", 401),
        ("POST", LOGIN, 422),
        ("GET", "/b0/docs", 200),
        ("OPTIONS", "/eco/api/v1/auth/me", 400),  # a CORS preflight from no allowed origin
    ],
)
async def test_every_response_carries_the_security_headers(
    combined_client: AsyncClient, method: str, path: str, status: int
) -> None:
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    response = await combined_client.request(method, path, headers=headers)
    assert response.status_code == status, response.text
    assert_security_headers(response)


async def test_an_app_served_alone_carries_them_too(stock_client: AsyncClient) -> None:
    assert_security_headers(await stock_client.get("/api/v1/stores"))


ID = "0192e3a0-0000-7000-8000-000000000000"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/health", {"GET"}),
        ("GET", LOGIN, {"POST"}),
        ("DELETE", "/stock/api/v1/stores", {"GET", "POST"}),
        ("POST", f"/stock/api/v1/stores/{ID}/products/{ID}", {"GET", "PATCH", "DELETE"}),
    ],
)
async def test_405_names_every_allowed_method(
    combined_client: AsyncClient, method: str, path: str, allowed: set[str]
) -> None:
    response = await combined_client.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert {each.strip() for each in response.headers["Allow"].split(",")} == allowed


# Body limits


async def test_a_json_body_over_the_limit_is_413(
    combined_client: AsyncClient, settings: Settings
) -> None:
    password = "x" * settings.max_body_bytes
    response = await combined_client.post(
        LOGIN, json={"email": "someone@example.com", "password": password}
    )
    assert_error(response, 413, "payload_too_large")


async def test_a_direct_route_refuses_a_body_over_the_limit_alike(
    combined_client: AsyncClient, settings: Settings
) -> None:
    """`POST /casino/api/actions` reads its body before FastAPI routes it (decision 31)."""
    context = {"note": "x" * settings.max_body_bytes}
    response = await combined_client.post(
        "/casino/api/actions", json={"action_type": "PAGE_VIEW", "context": context}
    )
    assert_error(response, 413, "payload_too_large")


async def test_a_declared_length_over_the_limit_is_413_unread(
    combined_client: AsyncClient, settings: Settings
) -> None:
    body = CountedBody(100 * 2**20)
    response = await combined_client.post(
        LOGIN,
        content=body,
        headers={"Content-Type": "application/json", "Content-Length": str(body.total)},
    )
    assert_error(response, 413, "payload_too_large")
    assert body.pulled == 0


async def test_a_chunked_body_is_refused_as_it_passes_the_limit(
    combined_client: AsyncClient, settings: Settings
) -> None:
    body = CountedBody(100 * 2**20)
    response = await combined_client.post(
        LOGIN, content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")
    assert settings.max_body_bytes < body.pulled <= settings.max_body_bytes + CHUNK


@pytest.mark.parametrize(("size", "status"), [(3 * 2**20, 401), (SYNC_MAX_BODY_BYTES + 1, 413)])
async def test_a_route_may_declare_its_own_limit(
    combined_client: AsyncClient, size: int, status: int
) -> None:
    """Stock's `/sync` takes a full batch, past the default limit (read, then refused for
    want of a token), up to its own."""
    batch = json.dumps({"device_id": "d", "products": [], "padding": "x" * size})
    response = await combined_client.post(
        "/stock/api/v1/sync", content=batch, headers={"Content-Type": "application/json"}
    )
    assert_error(response, status)


async def test_a_body_within_the_limit_is_read(combined_client: AsyncClient) -> None:
    response = await combined_client.post(
        LOGIN, json={"email": "nobody@example.com", "password": "not the password"}
    )
    assert_error(response, 401)


# /metrics


@pytest.fixture
async def metered_client(settings: Settings, database: Database) -> AsyncIterator[AsyncClient]:
    """The combined app with `METRICS_TOKEN` set."""
    metered = settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
    async with in_process_client(metered, database) as client:
        yield client


async def test_metrics_are_not_served_without_a_configured_token(
    combined_client: AsyncClient,
) -> None:
    assert_error(await combined_client.get("/metrics"), 404, "not_found")
    assert_error(await combined_client.get("/metrics", headers=bearer("")), 404, "not_found")


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), {"Authorization": METRICS_TOKEN}])
async def test_metrics_refuse_a_missing_or_wrong_token(
    metered_client: AsyncClient, headers: dict[str, str]
) -> None:
    assert_error(await metered_client.get("/metrics", headers=headers), 401, "unauthorized")


async def test_metrics_answer_the_configured_token(metered_client: AsyncClient) -> None:
    await metered_client.get("/stock/api/v1/stores")
    response = await metered_client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert response.status_code == 200
    assert 'route="/stock/api/v1/stores",status="401"' in response.text


# Secrets in URLs never reach a log line


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Every log line the process writes (INFO and up), as the JSON handler writes them."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="uvicorn.error")  # other tests' servers raise it
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        yield written
    finally:
        logging.getLogger().removeHandler(handler)


async def test_query_secrets_are_redacted_from_every_log_line(
    settings: Settings, database: Database, log_lines: io.StringIO
) -> None:
    secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2lnbmVk"
    query = f"token={secret}&access_token={secret}&signature={secret}&room=1"
    app = create_app(load_apps(), settings, database=database)
    async with uvicorn_serving(app) as base_url:
        ws_url = "ws" + base_url.removeprefix("http")
        with pytest.raises((InvalidStatus, WebSocketException)):
            async with connect(f"{ws_url}/eco/api/v1/ws/notifications?{query}") as socket:
                await socket.recv()
        async with AsyncClient(base_url=base_url) as client:
            await client.get(f"/eco/api/v1/auth/me?{query}")
    written = log_lines.getvalue()
    assert "/eco/api/v1/ws/notifications?token=" in written, written  # uvicorn's line
    assert f"token={REDACTED}&access_token={REDACTED}&signature={REDACTED}&room=1" in written
    assert secret not in written
