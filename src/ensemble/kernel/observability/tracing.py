"""OpenTelemetry spans under our own trace ids.

Off by default (`TRACING_EXPORTER=none`): nothing is installed, no SDK is imported and
`span()` hands back one shared null context (no allocation, no lookups).

With `console` or `otlp`, `configure_tracing` installs a TracerProvider with a batch
processor and instruments asyncpg, redis and httpx with their OpenTelemetry instrumentors,
so the libraries' own spans appear. `span(name)` starts a span whose parent is the
current `RequestContext` (the request's, job's or consumed event's trace and span ids, as
a remote parent), so our spans and every library span inside them carry the trace id our
JSON logs, responses, jobs and events carry.

Only spans inside such a trace are recorded: the sampler drops spans with no parent
(a background poll's queries, a dramatiq worker's broker calls), which would otherwise
each start a trace of their own under an id nothing else knows. A caller's `traceparent`
is honoured as ours is: FastAPI's own server span, started from that header, shares its
trace id.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    INVALID_SPAN,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
)

from ensemble.kernel.observability.context import (
    RequestContext,
    current_request_context,
    new_span_id,
    new_trace_id,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from ensemble.settings import Settings

SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class _Instrumentor(Protocol):
    def instrument(self, **kwargs: Any) -> Any: ...
    def uninstrument(self, **kwargs: Any) -> Any: ...


@dataclass
class _Tracing:
    provider: TracerProvider
    tracer: trace.Tracer
    instrumentors: Sequence[_Instrumentor]


@dataclass
class _Switch:
    tracing: _Tracing | None = None


_switch = _Switch()
_OFF: AbstractContextManager[Span] = contextlib.nullcontext(INVALID_SPAN)


def configure_tracing(
    settings: Settings,
    role: str,
    *,
    exporter: SpanExporter | None = None,
    install_global: bool = True,
) -> TracerProvider | None:
    """Turn tracing on for this process as `settings.tracing_exporter` says (service name
    `ensemble-<role>`); None, and nothing installed, when it is "none".

    `exporter` replaces the exporter the setting names (tests pass an in-memory one);
    `install_global=False` leaves OpenTelemetry's global provider alone (it can be set only
    once per process), so the provider serves only our spans and the instrumented
    libraries. A second call while tracing is on returns the provider already installed;
    `shutdown_tracing` turns it off again.
    """
    if settings.tracing_exporter == "none":
        return None
    if _switch.tracing is not None:
        return _switch.tracing.provider
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: f"ensemble-{role}"}),
        sampler=ParentBased(root=ALWAYS_OFF),
    )
    provider.add_span_processor(
        BatchSpanProcessor(exporter or _exporter(settings.tracing_exporter))
    )
    if install_global:
        trace.set_tracer_provider(provider)
    instrumentors = _instrument(provider)
    _switch.tracing = _Tracing(provider, provider.get_tracer("ensemble"), instrumentors)
    return provider


def shutdown_tracing() -> None:
    """Remove the instrumentation and flush and stop the provider (a global provider stays
    installed, shut down: OpenTelemetry cannot replace it)."""
    state, _switch.tracing = _switch.tracing, None
    if state is None:
        return
    for instrumentor in state.instrumentors:
        instrumentor.uninstrument()
    state.provider.shutdown()


def tracing_enabled() -> bool:
    return _switch.tracing is not None


def span(
    name: str, *, kind: SpanKind = SpanKind.INTERNAL, new_trace: bool = False, **attributes: Any
) -> AbstractContextManager[Span]:
    """A span around the block, made current (library spans inside become its children).

    Its parent is the current OpenTelemetry span if that one records and belongs to the
    request context's trace, else the request context itself as a remote parent.
    `new_trace=True` starts a trace of its own instead (a relay pass serves many traces).
    Exceptions leaving the block are recorded on it. With tracing off: a shared null
    context yielding a non-recording span, so callers may set attributes unconditionally.
    """
    state = _switch.tracing
    if state is None:
        return _OFF
    return state.tracer.start_as_current_span(
        name, context=_parent(new_trace), kind=kind, attributes=attributes or None
    )


def client_span(name: str, attributes: Mapping[str, Any]) -> AbstractContextManager[Span]:
    """A client span around a call the kernel makes to a server itself, as a library's
    instrumentation would: a child of the current span (`attributes` in the semantic
    conventions' names, e.g. `db.system`). With tracing off: the shared null context."""
    state = _switch.tracing
    if state is None:
        return _OFF
    return state.tracer.start_as_current_span(
        name, kind=SpanKind.CLIENT, attributes=dict(attributes)
    )


def _parent(new_trace: bool) -> otel_context.Context:
    if not new_trace:
        ctx = current_request_context()
        current = trace.get_current_span()
        if current.is_recording() and current.get_span_context().trace_id == _as_int(
            ctx.trace_id, 32
        ):
            return otel_context.get_current()
    else:
        ctx = RequestContext()
    trace_id, span_id = _as_int(ctx.trace_id, 32), _as_int(ctx.span_id, 16)
    if not trace_id or not span_id:  # a malformed id from outside: a trace of its own
        trace_id, span_id = int(new_trace_id(), 16), int(new_span_id(), 16)
    remote = SpanContext(trace_id, span_id, is_remote=True, trace_flags=SAMPLED)
    return trace.set_span_in_context(NonRecordingSpan(remote))


def _as_int(hex_id: str | None, digits: int) -> int:
    """The id as OpenTelemetry's integer, 0 (invalid) unless `digits` hex digits."""
    if not hex_id or len(hex_id) != digits:
        return 0
    try:
        return int(hex_id, 16)
    except ValueError:
        return 0


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # one JSON object per line, like the logs
        return ConsoleSpanExporter(formatter=lambda each: each.to_json(indent=None) + os.linesep)
    if name == "otlp":  # OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"unknown tracing exporter {name!r}")


def _instrument(provider: TracerProvider) -> list[_Instrumentor]:
    """The libraries' own spans: every PostgreSQL statement, Redis command and HTTP call."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    instrumentors: list[_Instrumentor] = [
        AsyncPGInstrumentor(),
        RedisInstrumentor(),
        HTTPXClientInstrumentor(),
    ]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
    return instrumentors
