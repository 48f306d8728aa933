"""OpenTelemetry spans under our trace ids: a request, a job run, a relayed and consumed
event; asyncpg's and redis's own spans inside them; nothing at all with tracing off.

Tracing is turned on with the SDK's in-memory exporter and without touching the global
provider (which OpenTelemetry lets a process set only once), and off again after each test.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import dramatiq
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util._once import Once
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import Database
from ensemble.kernel.events import Envelope, publish
from ensemble.kernel.events.consumer import consumer
from ensemble.kernel.events.relay import relay_once
from ensemble.kernel.events.runner import ConsumerRunner
from ensemble.kernel.jobs import configure_jobs
from ensemble.kernel.observability.context import (
    RequestContext,
    bind_request_context,
    current_request_context,
    parse_traceparent,
)
from ensemble.kernel.observability.tracing import (
    configure_tracing,
    shutdown_tracing,
    span,
    tracing_enabled,
)
from ensemble.settings import Settings
from tests.conftest import in_process_client
from tests.kernel import job_probes
from tests.polling import eventually

ASYNCPG = "opentelemetry.instrumentation.asyncpg"
REDIS = "opentelemetry.instrumentation.redis"
NO_SPANS = 100_000


@dataclass
class Traced:
    provider: TracerProvider
    exporter: InMemorySpanExporter

    def spans(self) -> tuple[ReadableSpan, ...]:
        """Every span ended so far (the batch processor flushed first)."""
        assert self.provider.force_flush()
        return self.exporter.get_finished_spans()

    def of_trace(self, trace_id: str) -> list[ReadableSpan]:
        return [each for each in self.spans() if _trace(each) == trace_id]


def _trace(each: ReadableSpan) -> str:
    assert each.context is not None
    return format(each.context.trace_id, "032x")


def _scope(each: ReadableSpan) -> str:
    return each.instrumentation_scope.name if each.instrumentation_scope else ""


def _is_redis(each: ReadableSpan) -> bool:
    """A Redis client span: redis-py's instrumentation's, or the kernel's own around the
    commands it packs itself (the relay's XADDs)."""
    attributes = each.attributes or {}
    return _scope(each) == REDIS or (
        each.kind is SpanKind.CLIENT and attributes.get("db.system") == "redis"
    )


def _named(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    [found] = [each for each in spans if each.name == name]
    return found


def _descends(each: ReadableSpan, ancestor: ReadableSpan, spans: Sequence[ReadableSpan]) -> bool:
    by_id = {other.context.span_id: other for other in spans if other.context is not None}
    assert ancestor.context is not None
    parent = each.parent
    while parent is not None:
        if parent.span_id == ancestor.context.span_id:
            return True
        above = by_id.get(parent.span_id)
        parent = above.parent if above is not None else None
    return False


def _returned_trace(traceparent: str) -> str:
    parsed = parse_traceparent(traceparent)
    assert parsed is not None
    return parsed[0]


def _traceparent() -> tuple[str, str]:
    trace_id = uuid.uuid4().hex
    return trace_id, f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"


@pytest.fixture
def traced(settings: Settings) -> Iterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = configure_tracing(
        settings.model_copy(update={"tracing_exporter": "console"}),
        "test",
        exporter=exporter,
        install_global=False,
    )
    assert provider is not None
    try:
        yield Traced(provider, exporter)
    finally:
        shutdown_tracing()


@pytest.fixture
def previous_context() -> Iterator[None]:
    """Tests that bind a request context leave the one they found."""
    previous = current_request_context()
    yield
    bind_request_context(previous)


@pytest.fixture
def global_provider() -> Iterator[None]:
    """Lets one test install the global provider as a process does, then takes it back.
    OpenTelemetry has no public way to: these are the globals its own test utilities reset."""
    saved = trace._TRACER_PROVIDER_SET_ONCE, trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER_SET_ONCE, trace._TRACER_PROVIDER = Once(), None
    try:
        yield
    finally:
        shutdown_tracing()
        trace._TRACER_PROVIDER_SET_ONCE, trace._TRACER_PROVIDER = saved


# Requests


async def test_a_request_and_its_queries_share_the_callers_trace(
    traced: Traced, settings: Settings, database: Database
) -> None:
    trace_id, traceparent = _traceparent()
    async with in_process_client(settings, database) as client:
        response = await client.get("/ready", headers={"traceparent": traceparent})
    assert response.json() == {"status": "ready"}

    spans = traced.of_trace(trace_id)
    request = _named(spans, "HTTP GET /ready")
    assert request.kind is SpanKind.SERVER
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/ready"
    assert request.attributes["http.response.status_code"] == 200
    queries = [each for each in spans if _scope(each) == ASYNCPG]
    assert queries, "asyncpg's own spans are recorded"
    assert all(_descends(each, request, spans) for each in queries)
    # the request's span hangs under the span id the response (and every log line) carries
    returned = parse_traceparent(response.headers["traceparent"])
    assert returned is not None
    assert request.parent is not None
    assert (format(request.parent.span_id, "016x"), returned[0]) == (returned[1], trace_id)


async def test_redis_commands_of_a_request_share_its_trace(
    traced: Traced, settings: Settings, database: Database
) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    async with in_process_client(settings, database, "eco") as client:
        signed = await client.post(
            "/api/v1/auth/signup", json={"email": email, "password": "correct horse battery"}
        )
        assert signed.status_code == 201, signed.text
        login = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}
        )
        trace_id, traceparent = _traceparent()
        stats = await client.get(
            "/api/v1/scan/stats",
            headers={
                "Authorization": f"Bearer {login.json()['access_token']}",
                "traceparent": traceparent,
            },
        )
    assert stats.status_code == 200, stats.text

    spans = traced.of_trace(trace_id)
    request = _named(spans, "HTTP GET /api/v1/scan/stats")
    commands = [each for each in spans if _scope(each) == REDIS]
    assert commands, "redis's own spans are recorded"
    assert all(_descends(each, request, spans) for each in commands)
    # every span recorded belongs to one of the requests' traces: queries outside any
    # request (the app's start, its hub) start no trace of their own
    requests = {_returned_trace(each.headers["traceparent"]) for each in (signed, login, stats)}
    assert {_trace(each) for each in traced.spans()} <= requests


async def test_a_request_without_traceparent_is_traced_under_the_id_it_returns(
    traced: Traced, settings: Settings, database: Database
) -> None:
    async with in_process_client(settings, database, "stock") as client:
        response = await client.get("/api/v1/stores")
    returned = parse_traceparent(response.headers["traceparent"])
    assert returned is not None
    request = _named(traced.of_trace(returned[0]), "HTTP GET /api/v1/stores")
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 401


async def test_as_installed_by_a_process_fastapis_own_spans_share_our_traces(
    settings: Settings, database: Database, global_provider: None
) -> None:
    """With the global provider set, FastAPI starts a server span of its own before our
    middleware runs: from the caller's `traceparent` when there is one (then ours nests
    under it), else as a root, which is dropped (its trace id is not the one we return)."""
    exporter = InMemorySpanExporter()
    provider = configure_tracing(
        settings.model_copy(update={"tracing_exporter": "console"}), "api", exporter=exporter
    )
    assert provider is not None
    assert trace.get_tracer_provider() is provider
    trace_id, traceparent = _traceparent()
    async with in_process_client(settings, database) as client:
        called = await client.get("/ready", headers={"traceparent": traceparent})
        alone = await client.get("/ready")
    assert provider.force_flush()
    spans = exporter.get_finished_spans()

    returned = {_returned_trace(each.headers["traceparent"]) for each in (called, alone)}
    assert {_trace(each) for each in spans} == returned
    assert trace_id in returned
    for each_trace in returned:
        ours = _named([s for s in spans if _trace(s) == each_trace], "HTTP GET /ready")
        assert any(_scope(each) == "fastapi" and _descends(each, ours, spans) for each in spans), (
            "FastAPI's operation spans nest under ours"
        )
        assert any(_scope(each) == ASYNCPG and _descends(each, ours, spans) for each in spans)
    fastapi_server = _named(
        [s for s in spans if _trace(s) == trace_id and _scope(s) == "fastapi"], "GET /ready"
    )
    ours = _named([s for s in spans if _trace(s) == trace_id], "HTTP GET /ready")
    assert ours.parent == fastapi_server.context


# Jobs and events


async def test_a_job_runs_in_a_span_of_the_requesters_trace(
    traced: Traced, settings: Settings, database: Database
) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(text(job_probes.PROBE_TABLE))
        await conn.execute(text("TRUNCATE public.job_probe"))
    runtime = configure_jobs(settings, job_probes.ALL)
    runtime.broker.flush_all()
    trace_id = uuid.uuid4().hex
    runtime.send("probe.record", {"key": "traced"}, trace_id=trace_id, request_id="req-traced")
    worker = dramatiq.Worker(runtime.broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        await eventually(
            lambda: _probe(database, "traced"), lambda rows: rows == [("done", trace_id)]
        )
        job = await eventually(
            lambda: _found(traced, trace_id, "job probe.record"), lambda found: found is not None
        )
    finally:
        worker.stop(timeout=10_000)
        runtime.broker.flush_all()
        runtime.broker.close()
    assert job is not None
    assert job.kind is SpanKind.CONSUMER
    spans = traced.of_trace(trace_id)
    inserts = [each for each in spans if _scope(each) == ASYNCPG and _descends(each, job, spans)]
    assert inserts, "the job's statements are children of its span"


async def _probe(database: Database, key: str) -> list[tuple[str, str]]:
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT event, trace_id FROM public.job_probe WHERE key = :k"), {"k": key}
        )
        return [(row[0], row[1]) for row in rows]


async def _found(traced: Traced, trace_id: str, name: str) -> ReadableSpan | None:
    return next((each for each in traced.of_trace(trace_id) if each.name == name), None)


async def test_a_consumed_event_is_traced_under_the_trace_that_published_it(
    traced: Traced, database: Database, redis: Redis, previous_context: None
) -> None:
    kind = f"test-{uuid.uuid4().hex[:12]}"
    handled: list[str] = []

    @consumer(f"c-{kind}", aggregate_types=[kind])
    async def note(session: AsyncSession, envelope: Envelope) -> None:
        await session.execute(text("SELECT 1"))
        handled.append(current_request_context().trace_id)

    runner = ConsumerRunner(database, redis, note)
    await runner.ensure_groups()
    publisher = RequestContext(request_id="req-event")
    bind_request_context(publisher)
    async with database.unit_of_work() as session:
        await publish(session, Envelope(aggregate_type=kind, aggregate_id="a1", type="noted"))
    bind_request_context(RequestContext())
    assert await relay_once(database, redis) == 1
    while await runner.run_once(block_ms=None):
        pass
    assert handled == [publisher.trace_id]

    spans = traced.of_trace(publisher.trace_id)
    consumed = _named(spans, f"consume noted by c-{kind}")
    assert consumed.kind is SpanKind.CONSUMER
    assert consumed.attributes is not None
    assert consumed.attributes["consumer"] == f"c-{kind}"
    queries = [each for each in spans if _scope(each) == ASYNCPG]
    assert len([each for each in queries if _descends(each, consumed, spans)]) >= 2, (
        "the claim and the handler's statement are children of the event's span"
    )
    [relayed] = [each for each in traced.spans() if each.name == "relay publish"]
    assert relayed.attributes is not None
    assert relayed.attributes["count"] == 1
    assert _trace(relayed) != publisher.trace_id, "a relay pass is a trace of its own"
    print(
        "DBG",
        [
            (e.name, _scope(e), e.kind, dict(e.attributes or {}))
            for e in traced.of_trace(_trace(relayed))
        ],
    )
    assert any(_is_redis(each) for each in traced.of_trace(_trace(relayed))), (
        "the pass's write to Redis is a client span of its trace"
    )


# The span helper


def test_spans_nest_and_malformed_ids_start_a_trace_of_their_own(
    traced: Traced, previous_context: None
) -> None:
    ctx = RequestContext()
    bind_request_context(ctx)
    with span("outer", step=1) as outer, span("inner") as inner:
        assert outer.is_recording()
        assert inner.get_span_context().trace_id == int(ctx.trace_id, 16)
    spans = traced.spans()
    assert _named(spans, "inner").parent == _named(spans, "outer").context
    assert _named(spans, "outer").attributes == {"step": 1}

    bind_request_context(RequestContext(trace_id="not-a-trace-id"))
    with span("detached") as detached:
        assert detached.is_recording()
    with pytest.raises(ValueError, match="boom"), span("failing"):
        raise ValueError("boom")
    failing = _named(traced.spans(), "failing")
    assert not failing.status.is_ok
    assert [event.name for event in failing.events] == ["exception"]


# Off


async def test_with_tracing_off_nothing_is_installed_or_exported(
    settings: Settings, database: Database
) -> None:
    exporter = InMemorySpanExporter()
    assert settings.tracing_exporter == "none"
    assert configure_tracing(settings, "test", exporter=exporter) is None
    assert not tracing_enabled()
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    assert not AsyncPGInstrumentor().is_instrumented_by_opentelemetry
    assert not RedisInstrumentor().is_instrumented_by_opentelemetry

    with span("anything", key="value") as nothing:
        assert not nothing.is_recording()
    async with in_process_client(settings, database) as client:
        response = await client.get("/ready", headers={"traceparent": _traceparent()[1]})
    assert response.status_code == 200
    await asyncio.sleep(0)
    assert exporter.get_finished_spans() == ()


def test_a_span_with_tracing_off_costs_next_to_nothing() -> None:
    assert not tracing_enabled()
    started = time.perf_counter()
    for _ in range(NO_SPANS):
        with span("job probe.record", kind=SpanKind.CONSUMER, attempt=1):
            pass
    per_span = (time.perf_counter() - started) / NO_SPANS
    assert per_span < 5e-6, f"{per_span * 1e9:.0f} ns a span with tracing off"
