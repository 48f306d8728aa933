"""Request ids, W3C trace context, JSON log lines, metrics, health and readiness."""

from __future__ import annotations

import json
import logging

import pytest
from httpx import AsyncClient

from ensemble.apps import APP_NAMES, load_app
from ensemble.kernel.observability.context import parse_traceparent
from ensemble.kernel.observability.logging import JsonFormatter
from tests.apicheck import routes_not_knowing_their_path

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


async def test_request_id_and_trace_are_echoed(combined_client: AsyncClient) -> None:
    response = await combined_client.get(
        "/health", headers={"X-Request-ID": "req-123", "traceparent": TRACEPARENT}
    )
    assert response.headers["X-Request-ID"] == "req-123"
    parsed = parse_traceparent(response.headers["traceparent"])
    assert parsed is not None
    assert parsed[0] == TRACE
    assert response.headers["Server-Timing"].startswith("app;dur=")


async def test_missing_or_bad_ids_are_replaced(combined_client: AsyncClient) -> None:
    response = await combined_client.get(
        "/health", headers={"X-Request-ID": "bad id\nwith newline", "traceparent": "junk"}
    )
    assert response.headers["X-Request-ID"] != "bad id\nwith newline"
    assert len(response.headers["X-Request-ID"]) == 32
    assert parse_traceparent(response.headers["traceparent"]) is not None


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "00-xyz-00f067aa0ba902b7-01",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{TRACE}-{'0' * 16}-01",
    ],
)
def test_invalid_traceparent_is_ignored(header: str | None) -> None:
    assert parse_traceparent(header) is None


async def test_log_lines_are_json_with_request_context(
    combined_client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ensemble.access")
    await combined_client.get(
        "/stock/api/v1/stores", headers={"X-Request-ID": "req-log", "traceparent": TRACEPARENT}
    )
    records = [r for r in caplog.records if r.name == "ensemble.access"]
    assert records, "each request writes an access line"
    line = json.loads(JsonFormatter().format(records[-1]))
    assert {
        "timestamp",
        "level",
        "logger",
        "message",
        "trace_id",
        "request_id",
        "span_id",
        "app",
    } <= set(line)
    assert (line["trace_id"], line["request_id"], line["app"], line["status"]) == (
        TRACE,
        "req-log",
        "stock",
        401,
    )
    assert line["route"] == "/stock/api/v1/stores"


async def test_health_ready_and_index(combined_client: AsyncClient) -> None:
    """(`/metrics`, behind its token: tests/test_http_edge.py.)"""
    assert (await combined_client.get("/health")).json() == {"status": "ok"}
    assert (await combined_client.get("/ready")).json() == {"status": "ready"}
    index = (await combined_client.get("/")).json()
    assert index["apps"]["stock"]["docs"] == "/stock/docs"
    assert (await combined_client.get("/stock/docs")).status_code == 200
    assert (await combined_client.get("/stock/openapi.json")).json()["info"][
        "title"
    ] == "DDon-DDon Stock"
    assert (await combined_client.get("/nowhere")).json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("name", APP_NAMES)
def test_every_route_knows_its_full_path(name: str) -> None:
    """Access log lines, metrics and spans are named after the route the request reached."""
    assert routes_not_knowing_their_path(load_app(name).routers) == []
