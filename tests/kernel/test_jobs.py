"""The job queue on the real Redis broker: outbox, ack, retries, failure log, delay,
trace propagation, periodic scheduling and redelivery after a worker is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import dramatiq
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, text

from ensemble.kernel.db import Database, utcnow
from ensemble.kernel.events.dlq import list_dead_work
from ensemble.kernel.events.models import DeadLetter
from ensemble.kernel.jobs import Job, JobRuntime, configure_jobs, dispatch_due
from ensemble.kernel.jobs.models import OutboxJob, TaskFailure
from ensemble.kernel.jobs.processes import _send_due
from ensemble.kernel.observability.context import RequestContext, bind_request_context
from ensemble.kernel.pagination import PageRequest
from ensemble.settings import Settings
from tests.kernel import job_probes
from tests.outboxes import Outboxes
from tests.polling import eventually
from tests.test_cli import _ensemble


@pytest.fixture
def job_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"jobs_heartbeat_timeout_ms": 1500, "jobs_maintenance_chance": 1_000_000}
    )


@pytest.fixture
async def probe_table(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(text(job_probes.PROBE_TABLE))
        await conn.execute(text("TRUNCATE public.job_probe"))


@pytest.fixture
def runtime(job_settings: Settings, probe_table: None) -> Iterator[JobRuntime]:
    jobs = configure_jobs(job_settings, job_probes.ALL)
    jobs.broker.flush_all()
    yield jobs
    jobs.broker.flush_all()
    jobs.broker.close()


@contextmanager
def worker(runtime: JobRuntime) -> Iterator[None]:
    consumer = dramatiq.Worker(runtime.broker, worker_threads=2, worker_timeout=50)
    consumer.start()
    try:
        yield
    finally:
        consumer.stop(timeout=10_000)


async def _events(database: Database, key: str) -> list[str]:
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT event FROM public.job_probe WHERE key = :k ORDER BY at"), {"k": key}
        )
        return [row[0] for row in rows]


async def _failures(database: Database) -> list[TaskFailure]:
    async with database.unit_of_work() as session:
        return list((await session.execute(select(TaskFailure))).scalars())


async def test_rolled_back_request_sends_nothing(database: Database, runtime: JobRuntime) -> None:
    async def failing_request() -> None:
        async with database.unit_of_work() as session:
            await job_probes.record.enqueue(session, key="never")
            raise RuntimeError("request failed")

    with pytest.raises(RuntimeError):
        await failing_request()
    assert await dispatch_due(database, runtime) == 0
    async with database.unit_of_work() as session:
        assert (
            await session.execute(select(func.count()).select_from(OutboxJob))
        ).scalar_one() == 0


async def test_a_wrong_missing_or_unknown_parameter_fails_in_the_request(
    database: Database,
) -> None:
    """A job's parameters are checked when it is requested, so the request that asks for
    it fails, writes no row, and the worker never sees the mistake."""
    wrong: list[dict[str, Any]] = [
        {"key": 7, "failures": 1},
        {"key": "k"},
        {"key": "k", "failures": 1, "extra": True},
        {"key": "k", "failures": "1"},
    ]
    async with database.unit_of_work() as session:
        for params in wrong:
            with pytest.raises(TypeError, match=r"probe\.flaky"):
                await job_probes.flaky.enqueue(session, **params)
        untyped: Job = job_probes.record  # what mypy would refuse, the call refuses too
        with pytest.raises(TypeError, match=r"probe\.record"):
            await untyped.enqueue_at(session, utcnow(), "k")
        await job_probes.slow.enqueue(session, key="k", seconds=1)  # an int is a float
        rows = (await session.execute(select(OutboxJob.job, OutboxJob.kwargs))).all()
    assert [tuple(row) for row in rows] == [("probe.slow", {"key": "k", "seconds": 1})]


async def test_committed_request_runs_once_with_the_requesters_trace(
    database: Database, runtime: JobRuntime
) -> None:
    bind_request_context(RequestContext(trace_id="ab" * 16, request_id="req-job"))
    async with database.unit_of_work() as session:
        await job_probes.record.enqueue(session, key="once")
    assert await dispatch_due(database, runtime) == 1
    assert await dispatch_due(database, runtime) == 0, "a dispatched row is not sent again"
    with worker(runtime):
        assert await eventually(lambda: _events(database, "once"), lambda e: e == ["done"])
    async with database.engine.connect() as conn:
        trace = await conn.execute(text("SELECT trace_id FROM public.job_probe WHERE key = 'once'"))
        assert trace.scalar_one() == "ab" * 16


async def test_transient_errors_are_retried_until_success(
    database: Database, runtime: JobRuntime
) -> None:
    async with database.unit_of_work() as session:
        await job_probes.flaky.enqueue(session, key="flaky", failures=2)
    await dispatch_due(database, runtime)
    with worker(runtime):
        events = await eventually(lambda: _events(database, "flaky"), lambda e: "done" in e)
    assert events == ["attempt", "attempt", "attempt", "done"]
    assert await _failures(database) == []


async def test_transient_errors_past_retries_land_in_the_failure_log(
    database: Database, runtime: JobRuntime
) -> None:
    async with database.unit_of_work() as session:
        await job_probes.flaky.enqueue(session, key="doomed", failures=99)
    await dispatch_due(database, runtime)
    with worker(runtime):
        failures = await eventually(lambda: _failures(database), lambda f: len(f) == 1)
    assert (failures[0].job, failures[0].attempts, failures[0].error_type) == (
        "probe.flaky",
        3,
        "RuntimeError",
    )
    assert failures[0].kwargs == {"key": "doomed", "failures": 99}
    assert await _events(database, "doomed") == ["attempt"] * 3


async def test_business_errors_are_not_retried(database: Database, runtime: JobRuntime) -> None:
    async with database.unit_of_work() as session:
        await job_probes.business.enqueue(session, key="refused")
    await dispatch_due(database, runtime)
    with worker(runtime):
        failures = await eventually(lambda: _failures(database), lambda f: len(f) == 1)
    assert (failures[0].attempts, failures[0].error_type) == (1, "Conflict")
    assert await _events(database, "refused") == ["attempt"]


async def test_delayed_job_waits_for_its_time(database: Database, runtime: JobRuntime) -> None:
    run_at = utcnow() + timedelta(seconds=1.5)
    async with database.unit_of_work() as session:
        await job_probes.record.enqueue_at(session, run_at, key="later")
    await dispatch_due(database, runtime)
    with worker(runtime):
        await eventually(lambda: _events(database, "later"), lambda e: e == ["done"])
    async with database.engine.connect() as conn:
        ran_at = (
            await conn.execute(text("SELECT at FROM public.job_probe WHERE key = 'later'"))
        ).scalar_one()
    assert ran_at >= run_at


def _spawn(role: str, settings: Settings) -> subprocess.Popen[bytes]:
    code = (
        "import sys; from ensemble.settings import Settings; "
        "from ensemble.kernel.jobs.processes import run_worker, run_scheduler; "
        "from tests.kernel.job_probes import ALL; "
        f"s = Settings.model_validate_json(sys.argv[1]); "
        f"run_{role}(s, ALL{', threads=2' if role == 'worker' else ''})"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, settings.model_dump_json()],
        cwd=os.getcwd(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_killed_worker_loses_nothing(
    database: Database, runtime: JobRuntime, job_settings: Settings
) -> None:
    async with database.unit_of_work() as session:
        await job_probes.slow.enqueue(session, key="slow", seconds=3.0)
    await dispatch_due(database, runtime)
    victim = _spawn("worker", job_settings)
    try:
        await eventually(lambda: _events(database, "slow"), lambda e: e == ["attempt"], timeout=30)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        victim.kill()
    survivor = _spawn("worker", job_settings)
    try:
        events = await eventually(
            lambda: _events(database, "slow"), lambda e: "done" in e, timeout=45
        )
    finally:
        survivor.terminate()
        survivor.wait(timeout=30)
    assert events.count("done") == 1
    assert events.count("attempt") == 2, "the killed attempt was redelivered, not lost"


async def test_scheduler_runs_periodic_jobs_with_one_leader(
    database: Database, runtime: JobRuntime, job_settings: Settings
) -> None:
    schedulers = [_spawn("scheduler", job_settings) for _ in range(2)]
    try:
        with worker(runtime):
            await eventually(lambda: _events(database, "tick"), lambda e: len(e) >= 4, timeout=30)
    finally:
        for process in schedulers:
            process.terminate()
        for process in schedulers:
            assert process.wait(timeout=30) == 0
    async with database.engine.connect() as conn:
        gaps = await conn.execute(
            text(
                "SELECT min(gap) FROM (SELECT at - lag(at) OVER (ORDER BY at) AS gap "
                "FROM public.job_probe WHERE key = 'tick') g"
            )
        )
        assert gaps.scalar_one() > timedelta(milliseconds=100), "only one scheduler sends"


async def test_scheduler_relays_the_outbox(
    database: Database, runtime: JobRuntime, job_settings: Settings
) -> None:
    scheduler = _spawn("scheduler", job_settings)
    try:
        with worker(runtime):
            async with database.unit_of_work() as session:
                await job_probes.record.enqueue(session, key="relayed")
            await eventually(lambda: _events(database, "relayed"), lambda e: e == ["done"])
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)


async def test_leadership_is_exclusive_and_checked(database: Database) -> None:
    from ensemble.kernel.jobs.processes import _still_leader, _take_leadership

    async with database.engine.connect() as first, database.engine.connect() as second:
        assert await _take_leadership(first)
        assert await _still_leader(first)
        assert not await _take_leadership(second)
        assert not await _still_leader(second)


async def test_unknown_job_is_recorded_not_lost(database: Database, runtime: JobRuntime) -> None:
    async with database.unit_of_work() as session:
        session.add(OutboxJob(job="gone.renamed", kwargs={"x": 1}))
    assert await dispatch_due(database, runtime) == 1
    failures = await _failures(database)
    assert [(f.job, f.error_type, f.kwargs) for f in failures] == [
        ("gone.renamed", "UnknownJob", {"x": 1})
    ]


async def test_old_dispatched_outbox_rows_are_pruned(
    settings: Settings, database: Database, redis: Redis
) -> None:
    from ensemble.kernel.jobs.maintenance import prune_outbox

    long_ago = utcnow() - timedelta(days=8)
    async with database.unit_of_work() as session:
        session.add_all(
            [
                OutboxJob(job="a", kwargs={}, dispatched_at=long_ago),
                OutboxJob(job="b", kwargs={}, dispatched_at=utcnow()),
                OutboxJob(job="c", kwargs={}, run_at=long_ago),
            ]
        )
    await Outboxes(settings, database, redis, []).run(prune_outbox)
    async with database.unit_of_work() as session:
        left = sorted((await session.execute(select(OutboxJob.job))).scalars())
    assert left == ["b", "c"], "recent and undispatched rows stay"


# Dead jobs beside dead letters: one operator view


async def _dead_letter(database: Database) -> DeadLetter:
    """A consumer's dead letter (as the runner writes one)."""
    async with database.unit_of_work() as session:
        letter = DeadLetter(
            consumer="probe.consumer",
            stream="events:probe",
            event_id=None,
            envelope={"raw": "not an envelope"},
            error="ValueError: unreadable",
            attempts=1,
        )
        session.add(letter)
    return letter


async def _dead_work(database: Database, **filters: Any) -> list[tuple[str, str]]:
    async with database.sessionmaker() as session:
        page = await list_dead_work(session, PageRequest(None, 100), **filters)
    return [(item.kind, item.queue) for item in page.items]


async def test_a_dead_job_is_listed_with_dead_letters_and_redriven_to_success(
    database: Database, runtime: JobRuntime, database_url: str, redis_url: str
) -> None:
    letter = await _dead_letter(database)
    async with database.unit_of_work() as session:  # 3 attempts fail; the 4th would succeed
        await job_probes.flaky.enqueue(session, key="revived", failures=3)
    await dispatch_due(database, runtime)
    with worker(runtime):  # one worker: its jobs' database lives on its event loop
        [failure] = await eventually(lambda: _failures(database), lambda f: len(f) == 1)
        await _list_then_redrive(database, runtime, letter, failure, database_url, redis_url)
        await eventually(lambda: _events(database, "revived"), lambda e: "done" in e)
    assert await _dead_work(database) == [("event", letter.consumer)]
    [done] = await _failures(database)
    assert done.reprocessed_at is not None


async def _list_then_redrive(
    database: Database,
    runtime: JobRuntime,
    letter: DeadLetter,
    failure: TaskFailure,
    database_url: str,
    redis_url: str,
) -> None:
    """The dead job is listed beside the dead letter, then re-driven by `ensemble dlq`."""
    assert await _dead_work(database) == [("event", letter.consumer), ("job", "probe.flaky")]
    assert await _dead_work(database, kind="job") == [("job", "probe.flaky")]
    assert await _dead_work(database, queue=letter.consumer) == [("event", letter.consumer)]
    async with database.sessionmaker() as session:
        first = await list_dead_work(session, PageRequest(None, 1))
        rest = await list_dead_work(session, PageRequest(first.next_cursor, 1))
    assert [item.id for item in [*first.items, *rest.items]] == [letter.id, failure.id]
    assert rest.next_cursor is None

    env = {"REDIS_URL": redis_url}
    listed = _ensemble(database_url, "events", "dlq", "list", "--kind", "job", env=env)
    assert listed.returncode == 0, listed.stderr
    [line] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (line["kind"], line["queue"], line["attempts"]) == ("job", "probe.flaky", 3)
    assert (line["arguments"], line["error_type"]) == (
        {"key": "revived", "failures": 3},
        "RuntimeError",
    )
    redriven = _ensemble(
        database_url, "dlq", "reprocess", "--queue", "probe.flaky", "--count", "5", env=env
    )
    assert redriven.returncode == 0, redriven.stderr
    assert json.loads(redriven.stdout.splitlines()[-1]) == {"reprocessed": 1}

    assert await dispatch_due(database, runtime) == 1, "requested again through the outbox"


def test_a_periodic_job_may_read_its_interval_each_time_it_is_sent() -> None:
    """`every=` a function: the scheduler asks it at each send (an app's setting)."""
    intervals = iter([timedelta(0), timedelta(hours=1)])

    async def tick(_: Any) -> None:
        return None

    fixed = Job("probe.fixed", tick, every=timedelta(hours=1))
    read = Job("probe.read", tick, every=lambda: next(intervals))
    sent: list[str] = []
    next_run = {"probe.fixed": 0.0, "probe.read": 0.0}
    for _ in range(3):
        _send_due([fixed, read], next_run, lambda name, _: sent.append(name))
    assert sent == ["probe.fixed", "probe.read", "probe.read"], "due again at once, then in an hour"
    assert fixed.period() == timedelta(hours=1)
