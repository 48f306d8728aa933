"""The HTTP edge, in pure ASGI and in one layer (`EdgeMiddleware`): request and trace ids,
timing, metrics and logs (`kernel.observability.middleware`), security headers on every
response, CORS, and a limit on request bodies, enforced while the body streams in (never
read whole to be measured).

One layer wraps `receive` once (the body limit) and `send` once (every header the edge
adds, appended in one go to the response's header list), instead of a middleware, a
wrapper and a header parse per concern.

The body limit is checked when the application first reads the body, before any byte of it
is taken: a declared `Content-Length` over the limit is refused at once, and a chunked body
is counted as it arrives and refused the moment it passes the limit. A route that takes
larger bodies declares it in its OpenAPI operation (`openapi_extra=max_body(n)`, so clients
see it too) or, when the limit is only known at run time, raises it for its request with
`allow_body` before it reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ensemble.kernel.observability.middleware import (
    describe,
    id_headers,
    open_request,
    record_request,
    request_span,
)

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
"""`X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and `Referrer-Policy:
no-referrer`, on every HTTP response."""
_BODY_LIMIT = "ensemble.body_limit"
MAX_BODY_EXTENSION = "x-max-body-bytes"
_READ = frozenset((b"x-request-id", b"traceparent", b"content-length", b"origin"))
_VARY_ORIGIN = (b"vary", b"Origin")

RawHeaders = Sequence[tuple[bytes, bytes]]


class PayloadTooLarge(HTTPException):
    """413 `payload_too_large` (an HTTPException, so FastAPI's body parsing passes it on)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body may have at most {max_bytes} bytes.")


@dataclass(slots=True)
class BodyLimit:
    """One request's body allowance and what has arrived so far."""

    default: int
    declared: int | None
    allowed: int | None = None
    received: int = 0

    def max_bytes(self, scope: Scope) -> int:
        """What `allow_body` allowed, else the route's declared limit, else the default."""
        if self.allowed is not None:
            return self.allowed
        extra = getattr(scope.get("route"), "openapi_extra", None) or {}
        declared_by_route = extra.get(MAX_BODY_EXTENSION)
        return declared_by_route if isinstance(declared_by_route, int) else self.default

    def check_declared(self, scope: Scope) -> None:
        if self.declared is None:
            return
        max_bytes = self.max_bytes(scope)
        if self.declared > max_bytes:
            raise PayloadTooLarge(max_bytes)

    def count(self, scope: Scope, size: int) -> None:
        self.received += size
        max_bytes = self.max_bytes(scope)
        if self.received > max_bytes:
            raise PayloadTooLarge(max_bytes)


def _read_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The request headers the edge reads (the first of each, as `Headers.get` takes)."""
    found: dict[bytes, bytes] = {}
    for name, value in raw:
        if name in _READ and name not in found:
            found[name] = value
    return found


def _content_length(value: bytes | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _vary_origin(headers: RawHeaders) -> RawHeaders:
    """The response headers with `Origin` added to `Vary`, as Starlette's `CORSMiddleware`
    does to every response to a request without `Origin` (in place of the first `Vary`,
    merging any others, else appended)."""
    varies = [value for name, value in headers if name == b"vary"]
    if not varies:
        return [*headers, _VARY_ORIGIN]
    merged = (b"vary", b", ".join([*varies, b"Origin"]))
    first = next(i for i, (name, _) in enumerate(headers) if name == b"vary")
    rest = [each for each in headers[first + 1 :] if each[0] != b"vary"]
    return [*headers[:first], merged, *rest]


class EdgeMiddleware:
    """Ids, timing, metrics, logs and the span of each HTTP request; security headers;
    CORS; and the body limit (`max_body_bytes` by default, a route may declare its own
    with `openapi_extra=max_body(n)` or set one at run time with `allow_body`).

    `cors` are `CORSMiddleware`'s options. A request with an `Origin` header goes through
    Starlette's `CORSMiddleware`; one without gets the only thing it would add, `Vary:
    Origin`, here. WebSocket and lifespan scopes pass through untouched."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        cors: Mapping[str, Any],
        app_name: str | None = None,
    ) -> None:
        self.app = app
        self.cors_app = CORSMiddleware(app, **cors)
        self.max_body_bytes = max_body_bytes
        self.app_name = app_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _read_headers(scope["headers"])
        ctx = open_request(headers.get(b"x-request-id"), headers.get(b"traceparent"), self.app_name)
        limit = BodyLimit(self.max_body_bytes, _content_length(headers.get(b"content-length")))
        scope[_BODY_LIMIT] = limit
        without_origin = b"origin" not in headers
        status = 500

        async def limited_receive() -> Message:
            limit.check_declared(scope)
            message = await receive()
            if message["type"] == "http.request":
                limit.count(scope, len(message.get("body", b"")))
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                nonlocal status
                status = message["status"]
                response: RawHeaders = message.get("headers", ())
                if without_origin:
                    response = _vary_origin(response)
                message["headers"] = [*response, *SECURITY_HEADERS, *id_headers(ctx, started)]
            await send(message)

        app = self.app if without_origin else self.cors_app
        with request_span(scope) as current:
            try:
                await app(scope, limited_receive, send_with_headers)
            finally:
                record_request(scope, ctx, self.app_name, status, time.perf_counter() - started)
                describe(current, scope, status)


def max_body(max_bytes: int) -> dict[str, Any]:
    """A route's own body limit, as its `openapi_extra` (documented in its operation)."""
    return {MAX_BODY_EXTENSION: max_bytes}


def allow_body(connection: HTTPConnection, max_bytes: int) -> None:
    """Let this request's body reach `max_bytes` (call it before reading the body)."""
    limit = connection.scope.get(_BODY_LIMIT)
    if isinstance(limit, BodyLimit):
        limit.allowed = max_bytes
