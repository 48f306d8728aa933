"""The one-layer HTTP edge answers CORS exactly as Starlette's `CORSMiddleware` does: a
request without `Origin` (served without it) still gets `Vary: Origin`, merged as it merges."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ensemble.kernel.edge import SECURITY_HEADERS, EdgeMiddleware

CORS: dict[str, Any] = {
    "allow_origins": ["http://localhost:5173"],
    "allow_credentials": True,
    "allow_methods": ["*"],
    "allow_headers": ["*"],
    "expose_headers": ["X-Request-ID", "traceparent"],
}
EDGE_HEADERS = {name.decode() for name, _ in SECURITY_HEADERS} | {
    "x-request-id",
    "traceparent",
    "server-timing",
}


def responding(headers: list[tuple[bytes, bytes]]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = Response(b"ok")
        response.raw_headers = [*response.raw_headers, *headers]
        await response(scope, receive, send)

    return app


async def headers_of(app: ASGIApp, request_headers: dict[str, str]) -> list[tuple[str, str]]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/", headers=request_headers)
    return [(name, value) for name, value in response.headers.multi_items()]


@pytest.mark.parametrize(
    "vary",
    [[], [(b"vary", b"Accept-Encoding")], [(b"vary", b"A"), (b"x-b", b"2"), (b"vary", b"B")]],
)
@pytest.mark.parametrize(
    "origin", [{}, {"Origin": "http://localhost:5173"}, {"Origin": "https://evil.example"}]
)
async def test_cors_headers_are_starlettes(
    vary: list[tuple[bytes, bytes]], origin: dict[str, str]
) -> None:
    inner = responding(vary)
    edge = EdgeMiddleware(inner, max_body_bytes=100, cors=CORS)
    ours = await headers_of(edge, origin)
    assert {name for name, _ in ours} >= EDGE_HEADERS
    expected = await headers_of(CORSMiddleware(inner, **CORS), origin)
    assert [each for each in ours if each[0] not in EDGE_HEADERS] == expected
