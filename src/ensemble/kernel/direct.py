"""Direct routes: the few highest-volume routes served before FastAPI routes the request
(decision 31).

FastAPI spends more CPU matching a request against an app's route list and solving its
dependencies than a small write costs. A direct route is an `async` function given the
request and its body that serves the well-formed request of a known caller itself, and
answers None for anything else: the request then goes on, body replayed, to the app's
FastAPI route of the same method and path, which stays the documented contract and gives
every refusal (bad body, bad token, unknown value) exactly as it always does. A direct
handler must therefore decide to answer None before it writes anything.

Everything outside the app (request ids, `Server-Timing`, the body limit, CORS, error
rendering) applies to both alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi.security.utils import get_authorization_scheme_param
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DirectHandler = Callable[[Request, bytes], Awaitable[Response | None]]


@dataclass(frozen=True)
class DirectRoute:
    """`handler` serves `method` `path` (the app's own path, as its FastAPI route has it)."""

    method: str
    path: str
    handler: DirectHandler


class DirectRoutes:
    """The middleware serving an app's direct routes (added by `server`, inside the error
    rendering, so an unexpected error of a handler is the usual JSON 500)."""

    def __init__(self, app: ASGIApp, routes: Sequence[DirectRoute]) -> None:
        self.app = app
        self.handlers = {(route.method, route.path): route.handler for route in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = (
            self.handlers.get((scope["method"], get_route_path(scope)))
            if scope["type"] == "http"
            else None
        )
        if handler is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        body = await request.body()
        response = await handler(request, body)
        if response is None:
            await self.app(scope, _replaying(body, receive), send)
        else:
            await response(scope, receive, send)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` giving `body` again, then what the client sends next (a disconnect)."""
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def bearer_credentials(request: Request) -> str | None:
    """The request's bearer token, as FastAPI's `HTTPBearer` reads it (None without one)."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


def sends_json(request: Request) -> bool:
    """Whether the request says its body is JSON (FastAPI's strict content type)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")
