"""ASGI middleware: request/trace ids in and out, one access log line, request metrics and
(with tracing on) one span per request under the request's trace id.

Every response carries `X-Request-ID`, `traceparent` and `Server-Timing: app;dur=<ms>` (the
time the server spent until the response started, which the benchmarks read).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from opentelemetry.trace import Span, SpanKind, StatusCode
from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ensemble.kernel.asgi import HttpMiddleware
from ensemble.kernel.observability.context import (
    RequestContext,
    bind_request_context,
    new_span_id,
    parse_traceparent,
)
from ensemble.kernel.observability.tracing import span

logger = logging.getLogger("ensemble.access")

REQUESTS = Counter(
    "http_requests_total", "HTTP requests served", ["app", "method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["app", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _incoming_request_id(headers: Headers) -> str:
    value = headers.get("x-request-id", "")
    return value if _REQUEST_ID.match(value) else new_span_id() + new_span_id()


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    prefix = scope.get("root_path", "")
    return f"{prefix}{path}" if path else "unmatched"


def _describe(current: Span, scope: Scope, method: str, status: int) -> None:
    """Name the request's span after its route (known once routed) and note its status."""
    if not current.is_recording():
        return
    route = _route_template(scope)
    current.update_name(f"HTTP {method} {route}")
    current.set_attribute("http.route", route)
    current.set_attribute("http.response.status_code", status)
    if status >= 500:
        current.set_status(StatusCode.ERROR)


class ObservabilityMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, app_name: str | None = None) -> None:
        super().__init__(app)
        self.app_name = app_name

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        parent = parse_traceparent(headers.get("traceparent"))
        ctx = RequestContext(request_id=_incoming_request_id(headers), app=self.app_name)
        if parent:
            ctx.trace_id = parent[0]
        bind_request_context(ctx)
        status_holder = {"status": 500}

        started = time.perf_counter()

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                out = MutableHeaders(scope=message)
                out["X-Request-ID"] = ctx.request_id or ""
                out["traceparent"] = ctx.traceparent()
                elapsed_ms = (time.perf_counter() - started) * 1000
                out["Server-Timing"] = f"app;dur={elapsed_ms:.3f}"
            await send(message)

        method = scope.get("method", "")
        attributes: dict[str, Any] = {"http.request.method": method, "url.path": scope["path"]}
        with span(f"HTTP {method}", kind=SpanKind.SERVER, **attributes) as current:
            try:
                await self.app(scope, receive, send_with_ids)
            finally:
                status = status_holder["status"]
                self._record(scope, ctx, status, time.perf_counter() - started)
                _describe(current, scope, method, status)

    def _record(self, scope: Scope, ctx: RequestContext, status: int, elapsed: float) -> None:
        app = ctx.app or self.app_name or "root"
        route = _route_template(scope)
        method = scope.get("method", "")
        REQUESTS.labels(app, method, route, str(status)).inc()
        LATENCY.labels(app, method, route).observe(elapsed)
        logger.info(
            "%s %s %s",
            method,
            scope.get("path", ""),
            status,
            extra={"status": status, "duration_ms": round(elapsed * 1000, 3), "route": route},
        )
