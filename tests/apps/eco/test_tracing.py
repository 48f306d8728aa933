"""One trace id from the HTTP request to the saga's last hop: the caller's W3C `traceparent`
reaches the API's log line, the classify job's, every consumer's, the stored events and the
job outbox rows, across real server, worker, scheduler, relay and consumer processes."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from ensemble.apps.eco import events
from ensemble.kernel.db import Database
from ensemble.kernel.events.models import StoredEvent
from ensemble.kernel.jobs.models import OutboxJob
from tests.apicheck import free_port
from tests.apps.eco.conftest import API, EcoWorld, is_terminal, quick_users
from tests.polling import eventually
from tests.processes import fleet

EXPECTED_ROWS = (events.SCAN, events.CHARACTER, events.PROFILE, "job scan.classify", "job eco.push")
SAGA_HOPS = ("eco.character.rewards", "eco.scan.rewards", "eco.my.stats", "eco.my.notifications")


@contextmanager
def server(env: dict[str, str], log: Path) -> Iterator[str]:
    """`ensemble serve --app eco --no-background` on a free port; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "ensemble", "serve", "--app", "eco", "--no-background"]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@asynccontextmanager
async def client_of(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a server that is starting: returned once `/health` answers."""

    async def health() -> int:
        try:
            return (await client.get("/health")).status_code
        except httpx.TransportError:
            return 0

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await eventually(health, lambda status: status == 200, timeout=90, interval=0.2)
        yield client


def log_lines(logs: Path, trace_id: str) -> dict[str, list[dict[str, Any]]]:
    """The JSON log lines carrying `trace_id`, per log file (named by process)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in logs.glob("*.log"):
        for text in path.read_text(errors="replace").splitlines():
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue  # a library writing to stderr by itself
            if isinstance(line, dict) and line.get("trace_id") == trace_id:
                found.setdefault(path.stem, []).append(line)
    return found


def hops_logged(lines: dict[str, list[dict[str, Any]]]) -> set[str]:
    return {
        hop
        for line in lines.get("consume", [])
        for hop in SAGA_HOPS
        if line["app"] == "events" and line["message"].startswith(f"{hop} handled")
    }


async def trace_ids_of_saga(database: Database, scan_id: str, user_id: str) -> dict[str, set[str]]:
    """The trace ids on the saga's stored events (per stream) and on the jobs it asked for."""
    streams = {events.SCAN: scan_id, events.CHARACTER: user_id, events.PROFILE: user_id}
    found: dict[str, set[str]] = {}
    async with database.sessionmaker() as session:
        for kind, aggregate_id in streams.items():
            stored = await session.scalars(
                select(StoredEvent.trace_id).where(
                    StoredEvent.aggregate_type == kind, StoredEvent.aggregate_id == aggregate_id
                )
            )
            found[kind] = {str(trace_id) for trace_id in stored}
        for job in await session.scalars(select(OutboxJob)):
            mine = job.kwargs.get("scan_id") == scan_id or job.kwargs.get("user_id") == user_id
            if mine:
                found.setdefault(f"job {job.job}", set()).add(str(job.trace_id))
    return found


async def test_one_trace_id_links_the_request_to_the_last_consumer(
    eco: EcoWorld, process_env: dict[str, str], tmp_path: Path
) -> None:
    [user] = await quick_users(eco, 1)
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    env = {**process_env, "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    with (
        server(env, tmp_path / "api.log") as base_url,
        fleet(env, logs=tmp_path),
    ):
        async with client_of(base_url) as client:
            accepted = await client.post(
                f"{API}/scan/classify",
                json={"user_input": "다 마신 페트병이에요"},
                headers={**user.headers, "traceparent": traceparent},
            )
            assert accepted.status_code == 202, accepted.text
            assert accepted.headers["traceparent"].split("-")[1] == trace_id
            task_id = accepted.json()["task_id"]

            async def task() -> dict[str, Any]:
                response = await client.get(f"{API}/scan/tasks/{task_id}", headers=user.headers)
                body: dict[str, Any] = response.json()
                return body

            settled = await eventually(task, is_terminal, timeout=60, interval=0.2)
        assert settled["reward"]["status"] == "granted"
        lines = await eventually(
            lambda: asyncio.to_thread(log_lines, tmp_path, trace_id),
            lambda found: hops_logged(found) == set(SAGA_HOPS),
            timeout=30,
        )
        # a hop logs before its transaction commits: poll its rows while the fleet still runs
        found = await eventually(
            lambda: trace_ids_of_saga(eco.database, task_id, str(user.user_id)),
            lambda ids: set(ids) >= set(EXPECTED_ROWS),
            timeout=30,
        )

    api = [line for line in lines["api"] if line["app"] == "eco"]
    assert any(line["message"] == "POST /api/v1/scan/classify 202" for line in api), api
    job = [line for line in lines["worker"] if line["app"] == "jobs"]
    assert any(line["message"].startswith(f"scan {task_id} completed: plastic") for line in job)
    assert hops_logged(lines) == set(SAGA_HOPS)
    assert found == {kind: {trace_id} for kind in EXPECTED_ROWS}
