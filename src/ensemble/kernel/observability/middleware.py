"""What the HTTP edge (`kernel.edge.EdgeMiddleware`) observes of each request: request and
trace ids in and out, one access log line, request metrics and (with tracing on) one span
per request under the request's trace id.

Every response carries `X-Request-ID`, `traceparent` and `Server-Timing: app;dur=<ms>` (the
time the server spent until the response started, which the benchmarks read).
"""

from __future__ import annotations

import logging
import os
import re
import time
from contextlib import AbstractContextManager, nullcontext

from opentelemetry.trace import Span, SpanKind, StatusCode
from prometheus_client import Counter, Histogram
from starlette.types import Scope

from ensemble.kernel.observability.context import (
    RequestContext,
    bind_request_context,
    parse_traceparent,
)
from ensemble.kernel.observability.tracing import span, tracing_enabled

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
_NO_SPAN: AbstractContextManager[Span | None] = nullcontext()


def open_request(
    request_id: bytes | None, traceparent: bytes | None, app_name: str | None
) -> RequestContext:
    """The request's context, bound for everything serving it: the caller's request id and
    trace id when well formed, else fresh ones, and a fresh span id.

    The fresh ids (32, 16 and 32 hex digits) come from one read of the OS random source."""
    fresh = os.urandom(40).hex()
    given = request_id.decode("latin-1") if request_id is not None else ""
    parent = parse_traceparent(traceparent.decode("latin-1") if traceparent else None)
    ctx = RequestContext(
        trace_id=parent[0] if parent else fresh[:32],
        span_id=fresh[32:48],
        request_id=given if _REQUEST_ID.match(given) else fresh[48:],
        app=app_name,
    )
    bind_request_context(ctx)
    return ctx


def id_headers(ctx: RequestContext, started: float) -> tuple[tuple[bytes, bytes], ...]:
    """`X-Request-ID`, `traceparent` and `Server-Timing` for the response starting now."""
    elapsed_ms = (time.perf_counter() - started) * 1000
    return (
        (b"x-request-id", (ctx.request_id or "").encode("latin-1")),
        (b"traceparent", ctx.traceparent().encode("latin-1")),
        (b"server-timing", b"app;dur=%.3f" % elapsed_ms),
    )


def request_span(scope: Scope) -> AbstractContextManager[Span | None]:
    """The request's server span (named after its route once routed, by `describe`); with
    tracing off a shared null context yielding None, nothing built."""
    if not tracing_enabled():
        return _NO_SPAN
    method = scope["method"]
    return span(
        f"HTTP {method}",
        kind=SpanKind.SERVER,
        **{"http.request.method": method, "url.path": scope["path"]},
    )


def describe(current: Span | None, scope: Scope, status: int) -> None:
    """Name the request's span after its route (known once routed) and note its status."""
    if current is None or not current.is_recording():
        return
    route = _route_template(scope)
    current.update_name(f"HTTP {scope['method']} {route}")
    current.set_attribute("http.route", route)
    current.set_attribute("http.response.status_code", status)
    if status >= 500:
        current.set_status(StatusCode.ERROR)


_Series = tuple[Counter, Histogram]
_series: dict[tuple[str, str, str, int], _Series] = {}


def _series_of(app: str, method: str, route: str, status: int) -> _Series:
    """The request counter's and latency histogram's children for these labels, looked up
    in the registry once per label set (`.labels()` takes a lock and builds a key)."""
    key = (app, method, route, status)
    series = _series.get(key)
    if series is None:
        series = _series[key] = (
            REQUESTS.labels(app, method, route, str(status)),
            LATENCY.labels(app, method, route),
        )
    return series


def record_request(
    scope: Scope, ctx: RequestContext, app_name: str | None, status: int, elapsed: float
) -> None:
    """Count and time the finished request and write its access log line."""
    app = ctx.app or app_name or "root"
    route = _route_template(scope)
    method = scope.get("method", "")
    requests, latency = _series_of(app, method, route, status)
    requests.inc()
    latency.observe(elapsed)
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "%s %s %s",
            method,
            scope.get("path", ""),
            status,
            extra={"status": status, "duration_ms": round(elapsed * 1000, 3), "route": route},
        )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    prefix = scope.get("root_path", "")
    return f"{prefix}{path}" if path else "unmatched"
