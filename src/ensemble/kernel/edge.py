"""The HTTP edge, in pure ASGI: security headers on every response and a limit on request
bodies, enforced while the body streams in (never read whole to be measured).

The body limit is checked when the application first reads the body, before any byte of it
is taken: a declared `Content-Length` over the limit is refused at once, and a chunked body
is counted as it arrives and refused the moment it passes the limit. A route that takes
larger bodies declares it in its OpenAPI operation (`openapi_extra=max_body(n)`, so clients
see it too) or, when the limit is only known at run time, raises it for its request with
`allow_body` before it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ensemble.kernel.asgi import HttpMiddleware

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_BODY_LIMIT = "ensemble.body_limit"
MAX_BODY_EXTENSION = "x-max-body-bytes"


class SecurityHeadersMiddleware(HttpMiddleware):
    """`X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and
    `Referrer-Policy: no-referrer` on every HTTP response."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class PayloadTooLarge(HTTPException):
    """413 `payload_too_large` (an HTTPException, so FastAPI's body parsing passes it on)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body may have at most {max_bytes} bytes.")


@dataclass
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
        max_bytes = self.max_bytes(scope)
        if self.declared is not None and self.declared > max_bytes:
            raise PayloadTooLarge(max_bytes)

    def count(self, scope: Scope, size: int) -> None:
        self.received += size
        max_bytes = self.max_bytes(scope)
        if self.received > max_bytes:
            raise PayloadTooLarge(max_bytes)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None


class BodyLimitMiddleware(HttpMiddleware):
    """Refuses request bodies over `max_bytes` with 413; a route may declare its own limit
    (`openapi_extra=max_body(n)`) or set one at run time (`allow_body`)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = BodyLimit(self.max_bytes, _content_length(scope))
        scope[_BODY_LIMIT] = limit

        async def limited_receive() -> Message:
            limit.check_declared(scope)
            message = await receive()
            if message["type"] == "http.request":
                limit.count(scope, len(message.get("body", b"")))
            return message

        await self.app(scope, limited_receive, send)


def max_body(max_bytes: int) -> dict[str, Any]:
    """A route's own body limit, as its `openapi_extra` (documented in its operation)."""
    return {MAX_BODY_EXTENSION: max_bytes}


def allow_body(connection: HTTPConnection, max_bytes: int) -> None:
    """Let this request's body reach `max_bytes` (call it before reading the body)."""
    limit = connection.scope.get(_BODY_LIMIT)
    if isinstance(limit, BodyLimit):
        limit.allowed = max_bytes
