"""The per-request context every log line carries: trace, span, request, app and user ids."""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from dataclasses import dataclass, field


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


@dataclass
class RequestContext:
    trace_id: str = field(default_factory=new_trace_id)
    span_id: str = field(default_factory=new_span_id)
    request_id: str | None = None
    app: str | None = None
    user_id: str | None = None

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"


_context: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def current_request_context() -> RequestContext:
    """The context of the running request or job; a fresh detached one outside of them."""
    ctx = _context.get()
    if ctx is None:
        ctx = RequestContext()
        _context.set(ctx)
    return ctx


def bind_request_context(ctx: RequestContext) -> None:
    _context.set(ctx)


def parse_traceparent(header: str | None) -> tuple[str, str] | None:
    """(trace_id, parent span id) from a W3C `traceparent`, or None if absent or malformed."""
    if not header:
        return None
    parts = header.strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    trace_id, parent_id = parts[1].lower(), parts[2].lower()
    try:
        int(trace_id, 16)
        int(parent_id, 16)
    except ValueError:
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id, parent_id
