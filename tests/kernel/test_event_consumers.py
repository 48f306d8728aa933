"""Event consumers against the real PostgreSQL and Redis: idempotency, retries, the DLQ,
reclaiming from a dead consumer, re-driving through the admin endpoints and the CLI."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Annotated, Any, cast

import pytest
from fastapi import Depends, FastAPI
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import Database
from ensemble.kernel.errors import Conflict, Unauthorized, install_error_handlers
from ensemble.kernel.events import Envelope, publish
from ensemble.kernel.events.bus import stream_name
from ensemble.kernel.events.consumer import Consumer, consumer
from ensemble.kernel.events.dlq import dlq_router, list_dead_work, reprocess
from ensemble.kernel.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from ensemble.kernel.events.relay import relay_once
from ensemble.kernel.events.runner import ConsumerRunner, Message, run_consumers
from ensemble.kernel.identity.principal import Principal, require_roles
from ensemble.kernel.jobs.definition import RetryPolicy
from ensemble.kernel.observability.context import (
    RequestContext,
    bind_request_context,
    current_request_context,
)
from ensemble.kernel.pagination import PageRequest
from ensemble.settings import Settings
from tests.lifespan import lifespan_of
from tests.polling import eventually
from tests.test_cli import _ensemble

FAST = RetryPolicy(max_retries=2, min_backoff_ms=1, max_backoff_ms=5)


class Recorder:
    """A handler whose effect is an outbox row per handled event (in the handler's
    transaction); `fail(envelope, calls)` may raise to simulate failures."""

    def __init__(self, kind: str, fail: Callable[[Envelope, int], None] | None = None) -> None:
        self.kind = kind
        self.fail = fail
        self.calls: dict[int, int] = {}
        self.trace_ids: list[str | None] = []

    async def __call__(self, session: AsyncSession, envelope: Envelope) -> dict[str, int]:
        n = int(envelope.payload["n"])
        self.calls[n] = self.calls.get(n, 0) + 1
        self.trace_ids.append(current_request_context().trace_id)
        if self.fail is not None:
            self.fail(envelope, self.calls[n])
        effect = Envelope(aggregate_type=f"{self.kind}-fx", aggregate_id="fx", type="seen")
        await publish(session, effect.model_copy(update={"payload": {"n": n}}))
        return {"n": n}

    def consumer(self) -> Consumer:
        return consumer(f"c-{self.kind}", aggregate_types=[self.kind], retry=FAST)(self)


async def _emit(database: Database, redis: Redis, kind: str, *ns: int) -> list[Envelope]:
    """Publish one event per `n` (one aggregate) and relay them to the stream."""
    async with database.unit_of_work() as session:
        written = [
            await publish(
                session,
                Envelope(aggregate_type=kind, aggregate_id="a1", type="noted", payload={"n": n}),
            )
            for n in ns
        ]
    assert await relay_once(database, redis) is not None
    return written


async def _effects(database: Database, kind: str) -> list[int]:
    async with database.sessionmaker() as session:
        stmt = (
            select(OutboxEvent.payload)
            .where(OutboxEvent.aggregate_type == f"{kind}-fx")
            .order_by(OutboxEvent.seq)
        )
        return [row["n"] for row in (await session.execute(stmt)).scalars()]


async def _count(database: Database, model: type[ProcessedEvent] | type[DeadLetter]) -> int:
    async with database.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def _dead_letters(database: Database) -> list[DeadLetter]:
    async with database.sessionmaker() as session:
        stmt = select(DeadLetter).order_by(DeadLetter.id)
        return list((await session.execute(stmt)).scalars())


async def _runner(database: Database, redis: Redis, handler: Consumer, **kw: Any) -> ConsumerRunner:
    runner = ConsumerRunner(database, redis, handler, **kw)
    await runner.ensure_groups()
    return runner


async def _drain(runner: ConsumerRunner) -> None:
    """Handle messages until none is left (no blocking read)."""
    while await runner.run_once(block_ms=None):
        pass


async def _unacked(redis: Redis, handler: Consumer) -> int:
    summary = await redis.xpending(handler.streams[0], handler.name)
    return int(summary["pending"])


def _consumed(handler: Consumer, outcome: str) -> float:
    labels = {"consumer": handler.name, "outcome": outcome}
    return REGISTRY.get_sample_value("events_consumed_total", labels) or 0.0


# Consuming


async def test_relayed_events_are_consumed_in_order_under_their_trace(
    database: Database, redis: Redis, kind: str
) -> None:
    recorder = Recorder(kind)
    handler = recorder.consumer()
    bind_request_context(RequestContext(request_id="req-7"))
    written = await _emit(database, redis, kind, 0, 1, 2)
    stop = asyncio.Event()
    running = asyncio.create_task(run_consumers(database, redis, [handler], stop))
    try:
        await eventually(lambda: _count(database, ProcessedEvent), lambda n: n == 3)
    finally:
        stop.set()
        await running

    assert await _effects(database, kind) == [0, 1, 2]
    assert recorder.trace_ids == [e.trace_id for e in written]
    async with database.sessionmaker() as session:
        results = (await session.execute(select(ProcessedEvent.result))).scalars().all()
    assert sorted(r["n"] for r in results) == [0, 1, 2]
    assert await _unacked(redis, handler) == 0


async def test_a_duplicate_delivery_changes_nothing_and_is_counted(
    database: Database, redis: Redis, kind: str
) -> None:
    handler = Recorder(kind).consumer()
    runner = await _runner(database, redis, handler)
    [event] = await _emit(database, redis, kind, 0)
    await _drain(runner)
    before = _consumed(handler, "duplicate")

    await redis.xadd(stream_name(kind), event.to_stream_fields())  # type: ignore[arg-type]
    await _drain(runner)

    assert await _effects(database, kind) == [0]
    assert await _count(database, ProcessedEvent) == 1
    assert _consumed(handler, "duplicate") == before + 1


async def test_a_transient_failure_succeeds_on_the_second_attempt(
    database: Database, redis: Redis, kind: str
) -> None:
    def flaky(_: Envelope, calls: int) -> None:
        if calls == 1:
            raise ConnectionError("database hiccup")

    recorder = Recorder(kind, flaky)
    runner = await _runner(database, redis, recorder.consumer())
    await _emit(database, redis, kind, 0)
    await _drain(runner)

    assert recorder.calls == {0: 2}
    assert await _effects(database, kind) == [0], "the failed attempt left nothing behind"
    assert await _dead_letters(database) == []


def _poison(_: Envelope, __: int) -> None:
    raise RuntimeError("poison pill")


async def test_a_poison_message_is_dead_lettered_and_does_not_block_its_stream(
    database: Database, redis: Redis, kind: str
) -> None:
    recorder = Recorder(kind, lambda e, c: _poison(e, c) if e.payload["n"] == 1 else None)
    handler = recorder.consumer()
    runner = await _runner(database, redis, handler)
    bind_request_context(RequestContext(request_id="req-poison"))
    _, poison, _ = await _emit(database, redis, kind, 0, 1, 2)
    await _drain(runner)

    assert await _effects(database, kind) == [0, 2]
    assert recorder.calls == {0: 1, 1: 3, 2: 1}
    [letter] = await _dead_letters(database)
    assert (letter.consumer, letter.stream, letter.event_id) == (
        handler.name,
        stream_name(kind),
        poison.event_id,
    )
    assert letter.attempts == 3
    assert letter.error == "RuntimeError: poison pill"
    assert letter.traceback is not None
    assert "poison pill" in letter.traceback
    assert letter.trace_id == poison.trace_id is not None
    assert Envelope.model_validate(letter.envelope) == poison
    assert await _unacked(redis, handler) == 0


async def test_an_app_error_is_dead_lettered_at_once(
    database: Database, redis: Redis, kind: str
) -> None:
    def refuse(_: Envelope, __: int) -> None:
        raise Conflict("already owned")

    recorder = Recorder(kind, refuse)
    runner = await _runner(database, redis, recorder.consumer())
    await _emit(database, redis, kind, 0)
    await _drain(runner)

    assert recorder.calls == {0: 1}
    [letter] = await _dead_letters(database)
    assert (letter.attempts, letter.error) == (1, "Conflict: already owned")


async def test_reprocessing_a_dead_letter_after_the_fix_completes_it(
    database: Database, redis: Redis, kind: str
) -> None:
    broken = True

    def until_fixed(_: Envelope, __: int) -> None:
        if broken:
            raise Conflict("not yet")

    recorder = Recorder(kind, until_fixed)
    handler = recorder.consumer()
    runner = await _runner(database, redis, handler)
    await _emit(database, redis, kind, 0, 1)
    await _drain(runner)
    assert len(await _dead_letters(database)) == 2

    broken = False
    async with database.unit_of_work() as session:
        redriven = await reprocess(session, redis, consumer=handler.name, count=1)
    await _drain(runner)

    assert await _effects(database, kind) == [0]
    first, second = await _dead_letters(database)
    assert [first.id] == [letter.id for letter in redriven]
    assert first.reprocessed_at is not None
    assert second.reprocessed_at is None
    async with database.sessionmaker() as session:
        page = await list_dead_work(session, PageRequest(None, 10), queue=handler.name)
    assert [item.id for item in page.items] == [second.id]


async def test_messages_of_a_dead_consumer_are_reclaimed_and_handled_exactly_once(
    database: Database, redis: Redis, kind: str
) -> None:
    handler = Recorder(kind).consumer()
    dead = await _runner(database, redis, handler, member="dead")
    await _emit(database, redis, kind, 0, 1)
    # "dead" took both; it committed the first one's effects and died before any ACK.
    delivered = await redis.xreadgroup(handler.name, "dead", {stream_name(kind): ">"})
    [(_, [(_, committed_fields), _])] = cast(list[tuple[bytes, list[Message]]], delivered)
    assert await dead.attempt(Envelope.from_stream_fields(committed_fields)) == "ok"
    assert await _unacked(redis, handler) == 2
    duplicates = _consumed(handler, "duplicate")

    heir = await _runner(database, redis, handler, member="heir", claim_idle_ms=20)

    async def take_over() -> int:
        await heir.run_once(block_ms=None)
        return await _unacked(redis, handler)

    await eventually(take_over, lambda unacked: unacked == 0)
    assert await _effects(database, kind) == [0, 1]
    assert await _count(database, ProcessedEvent) == 2
    assert _consumed(handler, "duplicate") == duplicates + 1


class Died(BaseException):
    """The handler's process dying: nothing after it runs (no commit, no ACK)."""


async def test_a_message_that_kills_its_process_is_dead_lettered_after_its_attempts(
    database: Database, redis: Redis, kind: str
) -> None:
    def die(envelope: Envelope, _: int) -> None:
        if envelope.payload["n"] == 1:
            raise Died()

    recorder = Recorder(kind, die)
    handler = recorder.consumer()
    first = await _runner(database, redis, handler, member="first", transaction_ms=60_000)
    await _emit(database, redis, kind, 0, 1, 2)
    with pytest.raises(Died):
        await first.run_once(block_ms=None)
    assert await _unacked(redis, handler) == 3, "the shared transaction died with it"

    heir = await _runner(database, redis, handler, member="heir", claim_idle_ms=1)

    async def deliver_again() -> int:
        with suppress(Died):
            await heir.run_once(block_ms=None)
        return await _unacked(redis, handler)

    await eventually(deliver_again, lambda unacked: unacked == 0)
    assert await _effects(database, kind) == [0, 2]
    # 1 ran in 3 deliveries (the first one's attempt not counted in Redis), then was
    # given up without running; 0 ran again after its shared transaction died.
    assert recorder.calls == {0: 2, 1: 3, 2: 1}
    [letter] = await _dead_letters(database)
    assert (letter.attempts, letter.error) == (3, "RuntimeError: abandoned after 3 deliveries")
    assert not await redis.exists(f"events:attempts:{handler.name}:{letter.event_id}")


async def test_a_failed_flush_takes_only_its_own_message_down(
    database: Database, redis: Redis, kind: str
) -> None:
    recorder = Recorder(kind)
    name = f"c-{kind}"

    async def handler(session: AsyncSession, envelope: Envelope) -> dict[str, int]:
        result = await recorder(session, envelope)
        if envelope.payload["n"] == 1:  # collides with its own claim: the flush fails
            session.add(ProcessedEvent(consumer=name, event_id=envelope.event_id))
        return result

    flushing = consumer(name, aggregate_types=[kind], retry=FAST)(handler)
    runner = await _runner(database, redis, flushing, transaction_ms=60_000)
    await _emit(database, redis, kind, 0, 1, 2)
    await _drain(runner)

    assert await _effects(database, kind) == [0, 2]
    # A failed flush rolls back the shared transaction: 0 ran again, on its own.
    assert recorder.calls == {0: 2, 1: 3, 2: 1}
    [letter] = await _dead_letters(database)
    assert letter.attempts == 3
    assert letter.error.startswith("IntegrityError")
    assert await _count(database, ProcessedEvent) == 2
    assert await _unacked(redis, flushing) == 0


# Admin endpoints and CLI


_TOKENS = {"admin-token": "ADMIN", "user-token": "USER"}


async def _fixed_token(
    credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))
    ],
) -> Principal:
    role = _TOKENS.get(credentials.credentials) if credentials else None
    if role is None:
        raise Unauthorized()
    return Principal(account_id=uuid.uuid4(), realm="test", role=role, claims={})


@asynccontextmanager
async def _admin_client(database: Database, settings: Settings) -> AsyncIterator[AsyncClient]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        redis = Redis.from_url(settings.redis_url or "")
        yield {"database": database, "settings": settings, "redis": redis}
        await redis.aclose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(dlq_router(require_roles(_fixed_token, "ADMIN")))
    install_error_handlers(app)
    async with lifespan_of(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://admin.test") as client:
            yield client


async def _three_dead_letters(database: Database, redis: Redis, kind: str) -> Consumer:
    def refuse(_: Envelope, __: int) -> None:
        raise Conflict("refused")

    recorder = Recorder(kind, refuse)
    runner = await _runner(database, redis, recorder.consumer())
    await _emit(database, redis, kind, 0, 1, 2)
    await _drain(runner)
    return recorder.consumer()


ADMIN = {"Authorization": "Bearer admin-token"}


async def test_admin_endpoints_list_and_reprocess_dead_letters(
    database: Database, redis: Redis, kind: str, settings: Settings
) -> None:
    handler = await _three_dead_letters(database, redis, kind)
    async with _admin_client(database, settings) as client:
        first = await client.get("/admin/dlq", params={"queue": handler.name, "limit": 2})
        assert first.status_code == 401
        first = await client.get(
            "/admin/dlq", params={"queue": handler.name, "limit": 2}, headers=ADMIN
        )
        assert first.status_code == 200, first.text
        body = first.json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) == 2
        item = body["items"][0]
        assert item["queue"] == handler.name
        assert item["stream"] == stream_name(kind)
        assert item["attempts"] == 1
        assert item["error"] == "Conflict: refused"
        assert item["envelope"]["payload"] == {"n": 0}
        assert item["reprocessed_at"] is None
        rest = await client.get(
            "/admin/dlq", params={"cursor": body["next_cursor"], "limit": 2}, headers=ADMIN
        )
        assert [i["envelope"]["payload"]["n"] for i in rest.json()["items"]] == [2]
        assert rest.json()["next_cursor"] is None

        done = await client.post(
            "/admin/dlq/reprocess", json={"queue": handler.name, "count": 2}, headers=ADMIN
        )
        assert done.status_code == 200, done.text
        assert done.json()["reprocessed"] == 2
        left = await client.get("/admin/dlq", params={"queue": handler.name}, headers=ADMIN)
        assert [i["envelope"]["payload"]["n"] for i in left.json()["items"]] == [2]
    assert len(await redis.xrange(stream_name(kind)) or []) == 5, "two envelopes appended again"


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", "/admin/dlq", None),
        ("POST", "/admin/dlq/reprocess", {"queue": "q", "count": 1}),
    ],
)
async def test_admin_endpoints_refuse_strangers_and_non_admins(
    database: Database, settings: Settings, method: str, path: str, payload: Any
) -> None:
    async with _admin_client(database, settings) as client:
        anonymous = await client.request(method, path, json=payload)
        user = await client.request(
            method, path, json=payload, headers={"Authorization": "Bearer user-token"}
        )
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert user.status_code == 403
    assert user.json()["error"]["code"] == "role_forbidden"


async def test_admin_endpoints_reject_bad_input(database: Database, settings: Settings) -> None:
    async with _admin_client(database, settings) as client:
        requests: list[Callable[[], Awaitable[Any]]] = [
            lambda: client.get("/admin/dlq", params={"limit": 0}, headers=ADMIN),
            lambda: client.get("/admin/dlq", params={"cursor": "not-ours"}, headers=ADMIN),
            lambda: client.post("/admin/dlq/reprocess", json={"count": 1}, headers=ADMIN),
            lambda: client.post(
                "/admin/dlq/reprocess", json={"queue": "q", "count": 0}, headers=ADMIN
            ),
        ]
        for send in requests:
            response = await send()
            assert response.status_code == 422, response.text
            assert response.json()["error"]["code"] in {"validation_error", "invalid_cursor"}


async def test_cli_lists_and_reprocesses_dead_letters(
    database: Database, redis: Redis, kind: str, database_url: str, redis_url: str
) -> None:
    handler = await _three_dead_letters(database, redis, kind)
    env = {"REDIS_URL": redis_url}

    listed = _ensemble(database_url, "events", "dlq", "list", "--queue", handler.name, env=env)
    assert listed.returncode == 0, listed.stderr
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [line["envelope"]["payload"]["n"] for line in lines] == [0, 1, 2]
    assert {line["error"] for line in lines} == {"Conflict: refused"}

    redriven = _ensemble(
        database_url, "events", "dlq", "reprocess", "--count", "2", "--queue", handler.name, env=env
    )
    assert redriven.returncode == 0, redriven.stderr
    assert json.loads(redriven.stdout.splitlines()[-1]) == {"reprocessed": 2}
    pending = [letter for letter in await _dead_letters(database) if not letter.reprocessed_at]
    assert [letter.envelope["payload"]["n"] for letter in pending] == [2]
