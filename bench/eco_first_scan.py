"""ECO² first scan after a restart: how long the first scan's saga takes against later ones.

Starts (or joins) the bench PostgreSQL and Redis, then `ensemble serve --app eco` with its
background roles (worker, scheduler, relay, consumers) to sign a user up, stops it and
starts it again. Once the restarted server answers `/ready` (or only `/health`, with
`--no-wait-ready`), it times scans with the user's token, from `POST /scan/classify` to the
202 and to the task's terminal state (classified, reward settled): the first one, then
`--warm` more. The first and the last saga's events are listed with their times, so a cold
hop stands out.

    python bench/eco_first_scan.py [--warm 5] [--no-wait-ready] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from common import (
    API,
    DEFAULT_DATA_DIR,
    console,
    positive,
    raw_dsn,
    spawn_server,
    start_postgres,
    start_redis,
    until_healthy,
)
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database

READY_DEADLINE_S = 60.0
SCAN_DEADLINE_S = 60.0
TEXTS = ("다 마신 페트병", "종이 상자", "알루미늄 캔", "유리병", "과자봉지", "스티로폼")


def is_terminal(task: dict[str, Any]) -> bool:
    reward = task.get("reward") or {}
    return task["status"] == "failed" or (
        task["status"] == "completed" and reward.get("status") != "pending"
    )


async def until(client: httpx.AsyncClient, path: str, deadline_s: float, **kw: Any) -> Any:
    """GET `path` until it answers 200 (and `kw["check"]` holds), within `deadline_s`."""
    check = kw.get("check", lambda _: True)
    deadline = time.monotonic() + deadline_s
    while True:
        response = await client.get(path, headers=kw.get("headers"))
        if response.status_code == 200 and check(response.json()):
            return response.json()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path}: no answer within {deadline_s} s: {response.text}")
        await asyncio.sleep(0.01)


async def sign_up(client: httpx.AsyncClient) -> dict[str, str]:
    credentials = {"email": f"first-{uuid.uuid4().hex[:10]}@example.com", "password": "x" * 12}
    (await client.post(f"{API}/auth/signup", json=credentials)).raise_for_status()
    response = await client.post(f"{API}/auth/login", json=credentials)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass(frozen=True)
class Timed:
    accepted_ms: float  # the 202
    settled_ms: float  # the task terminal
    task_id: str


async def scan(client: httpx.AsyncClient, headers: dict[str, str], text: str) -> Timed:
    """How long a scan takes to be accepted and to reach its terminal state."""
    started = time.perf_counter()
    accepted = await client.post(f"{API}/scan/classify", json={"user_input": text}, headers=headers)
    accepted.raise_for_status()
    accepted_ms = (time.perf_counter() - started) * 1000
    task_id = accepted.json()["task_id"]
    await until(
        client, f"{API}/scan/tasks/{task_id}", SCAN_DEADLINE_S, headers=headers, check=is_terminal
    )
    return Timed(accepted_ms, (time.perf_counter() - started) * 1000, task_id)


async def hops(url: str, task_id: str) -> list[tuple[str, float]]:
    """The first saga's events (scan stream and the user's character stream) in time order,
    as milliseconds after the scan was requested."""
    connection = await asyncpg.connect(raw_dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT type, occurred_at FROM events.stored_events WHERE aggregate_id = $1"
            " OR (type LIKE 'Character%' AND payload->>'scan_id' = $1) ORDER BY occurred_at",
            task_id,
        )
    finally:
        await connection.close()
    start = rows[0]["occurred_at"]
    return [(row["type"], (row["occurred_at"] - start).total_seconds() * 1000) for row in rows]


async def main(options: argparse.Namespace) -> None:
    data_dir: Path = options.data_dir.resolve()
    url, postgres = start_postgres(data_dir, "ensemble_bench_first_scan")
    redis_url, redis = start_redis(data_dir)
    database = Database(url, pool_size=1)
    await migrate(database.engine)
    await database.dispose()
    env = {"REDIS_URL": redis_url}
    server = await until_healthy(spawn_server(url, data_dir, "WARNING", "eco", env), "ECO²")
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as client:
            headers = await sign_up(client)
    finally:
        server.stop()
    server = spawn_server(url, data_dir, "WARNING", "eco", env, log_name="first_scan.log")
    try:  # restarted: the user's token still holds, nothing has run in these processes
        await until_healthy(server, "ECO² (restarted)")
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as client:
            if options.wait_ready:
                await until(client, "/ready", READY_DEADLINE_S)
            first = await scan(client, headers, TEXTS[0])
            warm = [
                await scan(client, headers, TEXTS[1 + n % (len(TEXTS) - 1)])
                for n in range(options.warm)
            ]
        accepted = statistics.median(each.accepted_ms for each in warm)
        settled = statistics.median(each.settled_ms for each in warm)
        console.print(
            f"first scan after start: accepted in [bold]{first.accepted_ms:.0f} ms[/],"
            f" settled in [bold]{first.settled_ms:.0f} ms[/]"
        )
        console.print(
            f"warm scans (median of {len(warm)}): accepted in {accepted:.0f} ms,"
            f" settled in {settled:.0f} ms"
        )
        for name, timed in (("first", first), ("last warm", warm[-1])):
            console.print(f"{name} saga's events:")
            for kind, at_ms in await hops(url, timed.task_id):
                console.print(f"  {at_ms:8.0f} ms  {kind}")
    finally:
        server.stop()
        for embedded in (redis, postgres):
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=positive, default=5, help="warm scans after the first")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument(
        "--wait-ready",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="scan only once /ready answers 200 (else as soon as /health does)",
    )
    asyncio.run(main(parser.parse_args()))
