"""`ensemble worker` and `ensemble scheduler`.

The worker runs dramatiq consumers (acknowledging a message only after its job returned).
The scheduler relays the outbox and, while it holds a PostgreSQL advisory lock (one leader
among any number of schedulers), sends each periodic job when it is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import dramatiq
from dramatiq import Broker, Middleware
from dramatiq.asyncio import get_event_loop_thread
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ensemble.kernel.db import Database
from ensemble.kernel.heartbeat import heartbeat
from ensemble.kernel.jobs.definition import Job
from ensemble.kernel.jobs.outbox import run_relay
from ensemble.kernel.jobs.runtime import configure_jobs
from ensemble.kernel.observability.tracing import configure_tracing
from ensemble.kernel.resources import AppResources
from ensemble.kernel.warmup import Warmer, open_connections, run_warmers
from ensemble.settings import Settings

logger = logging.getLogger(__name__)

LEADER_LOCK = 0x656E_7365_6D62  # "ensemb"
Sender = Callable[[str, dict[str, Any]], None]


def _stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


class ReadyBeforeConsuming(Middleware):
    """Runs `prepare` (open the apps' resources and the pool's connections) on the jobs'
    event loop as the worker boots: after `AsyncIO` has started that loop and before any
    consumer takes a message, so no job ever runs without its app's resources."""

    def __init__(self, prepare: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.prepare = prepare

    def before_worker_boot(self, broker: Broker, worker: dramatiq.Worker) -> None:
        jobs_loop = get_event_loop_thread()
        if jobs_loop is None:
            raise RuntimeError("the AsyncIO middleware must come before ReadyBeforeConsuming")
        jobs_loop.run_coroutine(self.prepare())


def run_worker(
    settings: Settings,
    jobs: Sequence[Job],
    *,
    threads: int | None = None,
    warmers: Sequence[Warmer] = (),
    resources: Sequence[AppResources[Any, Any]] = (),
) -> None:
    """Consume jobs until SIGTERM/SIGINT; in-flight jobs finish (or are redelivered). The
    apps' `warmers` run, their `resources` and the jobs' pool connections open before the
    first job."""
    configure_tracing(settings, "worker")
    runtime = configure_jobs(settings, jobs)
    run_warmers(warmers)

    async def prepare() -> None:
        await runtime.open_resources(resources)
        await open_connections(runtime.database)

    runtime.broker.add_middleware(ReadyBeforeConsuming(prepare))
    worker = dramatiq.Worker(
        runtime.broker, worker_threads=threads or settings.jobs_worker_threads, worker_timeout=250
    )
    stop = threading.Event()
    _stop_on_signals(stop)
    with heartbeat(settings, "worker"):
        worker.start()
        logger.info("worker consuming %s", sorted(runtime.actors))
        stop.wait()
        worker.stop(timeout=30_000)
    runtime.broker.close()


def run_scheduler(settings: Settings, jobs: Sequence[Job]) -> None:
    """Relay the outbox and send periodic jobs until SIGTERM/SIGINT."""
    configure_tracing(settings, "scheduler")
    stop = threading.Event()
    _stop_on_signals(stop)
    with heartbeat(settings, "scheduler"):
        asyncio.run(_schedule(settings, jobs, stop))


async def _schedule(settings: Settings, jobs: Sequence[Job], stop_signal: threading.Event) -> None:
    runtime = configure_jobs(settings, jobs)
    assert settings.database_url is not None
    database = Database(settings.database_url, pool_size=3)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    asyncio.ensure_future(loop.run_in_executor(None, stop_signal.wait)).add_done_callback(
        lambda _: stop.set()
    )
    periodic = [job for job in jobs if job.every is not None]
    try:
        await asyncio.gather(
            run_relay(database, runtime, stop, settings.jobs_relay_interval_seconds),
            _run_periodic(database, runtime.send, periodic, stop, settings),
        )
    finally:
        await database.dispose()
        runtime.broker.close()


async def _run_periodic(
    database: Database,
    send: Sender,
    periodic: Sequence[Job],
    stop: asyncio.Event,
    settings: Settings,
) -> None:
    if not periodic:
        await stop.wait()
        return
    async with database.engine.connect() as lock_connection:
        next_run = dict.fromkeys((job.name for job in periodic), 0.0)
        leader = False
        while not stop.is_set():
            leader = (
                await _still_leader(lock_connection)
                if leader
                else await _take_leadership(lock_connection)
            )
            if leader:
                _send_due(periodic, next_run, send)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.jobs_scheduler_tick_seconds)


async def _take_leadership(connection: AsyncConnection) -> bool:
    """The advisory lock stays held by this connection for as long as it lives."""
    result = await connection.execute(
        text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK}
    )
    await connection.commit()
    return bool(result.scalar_one())


async def _still_leader(connection: AsyncConnection) -> bool:
    """Whether this connection still holds the lock (it fails loudly if the connection died,
    which stops this scheduler rather than letting two leaders send periodic jobs)."""
    result = await connection.execute(
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = :key"
        ),
        {"key": LEADER_LOCK},
    )
    await connection.commit()
    return bool(result.scalar_one())


def _send_due(periodic: Sequence[Job], next_run: dict[str, float], send: Sender) -> None:
    now = time.monotonic()
    for job in periodic:
        if now >= next_run[job.name]:
            period = job.period()
            assert period is not None
            send(job.name, {})
            next_run[job.name] = now + period.total_seconds()
