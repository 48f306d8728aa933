"""Direct routes (decision 31): a handler serves what it can before FastAPI routes the
request; for anything else it answers None and the app's route of the same method and path
serves the request, with the body replayed. Every app's direct route has such a route."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI, Request
from httpx import ASGITransport, AsyncClient
from starlette.responses import JSONResponse, Response

from ensemble.apps import load_apps
from ensemble.kernel.direct import DirectRoute, DirectRoutes, bearer_credentials, sends_json
from ensemble.kernel.errors import install_error_handlers
from tests.apicheck import api_routes, assert_error


def _app(served_by_route: list[Any]) -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        body = await request.json()
        served_by_route.append(body)
        return {"via": "route", "body": body}

    async def directly(request: Request, raw: bytes) -> Response | None:
        body = json.loads(raw)
        if body.get("fail"):
            raise RuntimeError("a bug in the handler")
        return JSONResponse({"via": "direct"}) if body.get("direct") else None

    app.add_middleware(DirectRoutes, routes=[DirectRoute("POST", "/echo", directly)])
    install_error_handlers(app)
    return app


@pytest.fixture
def served_by_route() -> list[Any]:
    return []


@pytest.fixture
async def client(served_by_route: list[Any]) -> Any:
    transport = ASGITransport(app=_app(served_by_route), raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://direct.test") as client:
        yield client


async def test_the_handler_serves_what_it_can(
    client: AsyncClient, served_by_route: list[Any]
) -> None:
    answer = await client.post("/echo", json={"direct": True})
    assert (answer.status_code, answer.json()) == (200, {"via": "direct"})
    assert served_by_route == []


async def test_the_route_serves_the_rest_with_the_same_body(
    client: AsyncClient, served_by_route: list[Any]
) -> None:
    body = {"direct": False, "text": "x" * 100_000}
    answer = await client.post("/echo", json=body)
    assert (answer.status_code, answer.json()) == (200, {"via": "route", "body": body})
    assert served_by_route == [body]


async def test_other_methods_go_to_the_app(client: AsyncClient) -> None:
    assert_error(await client.get("/echo"), 405, "method_not_allowed")


async def test_a_failing_handler_is_the_usual_json_500(client: AsyncClient) -> None:
    assert_error(await client.post("/echo", json={"fail": True}), 500, "internal_error")


@pytest.mark.parametrize(
    ("headers", "token", "json_body"),
    [
        ({"authorization": "Bearer abc", "content-type": "application/json"}, "abc", True),
        (
            {"authorization": "bearer abc", "content-type": "application/vnd.x+json; q=1"},
            "abc",
            True,
        ),
        ({"authorization": "Basic abc", "content-type": "text/plain"}, None, False),
        ({"authorization": "Bearer "}, None, False),
        ({}, None, False),
    ],
)
def test_bearer_and_json_are_read_as_fastapi_reads_them(
    headers: dict[str, str], token: str | None, json_body: bool
) -> None:
    scope = {"type": "http", "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    request = Request(scope)
    assert (bearer_credentials(request), sends_json(request)) == (token, json_body)


def test_every_direct_route_has_the_route_it_falls_back_to() -> None:
    for module in load_apps():
        served = {
            (method, route.path)
            for route in api_routes(module.routers)
            for method in route.methods or ()
        }
        for direct in module.direct_routes:
            assert (direct.method, direct.path) in served, (module.name, direct)
