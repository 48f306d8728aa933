"""ECO² classify: POST /api/v1/scan/classify latency (it only records and enqueues).

Runs `ensemble serve --app eco --no-background` (no worker, scheduler, relay or consumers:
the request's own cost alone) against the bench PostgreSQL. `--users` users sign up (once)
and log in over HTTP; each request is a text scan of a random user with a fresh
`Idempotency-Key`. The request authenticates the caller (token, its session's revocation
(one Redis EXISTS, not in the baseline) and one principal query),
inserts the scan row, appends `ScanRequested` to the event store and the event outbox
(+ NOTIFY) and requests the `scan.classify` job (job outbox + NOTIFY), in one transaction.

Baseline, same run and concurrency: raw asyncpg doing those statements in one transaction
(principal lookup, scan insert, stored-event insert, outbox insert + NOTIFY, job-outbox
insert + NOTIFY). Afterwards the run's outbox rows are marked published/dispatched, so no
relay sharing the bench database inherits them. Target: server-side p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from common import (
    API,
    Server,
    Stats,
    console,
    load_parser,
    positive,
    process_cpu_s,
    raw_dsn,
    report,
    run,
    run_concurrently,
    server_ms,
    spawn_server,
    start_postgres,
    until_healthy,
    verdict,
)
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database, new_id

TARGET_P99_MS = 20.0
PASSWORD = "bench-eco-password-0123"
TEXTS = (
    "a clear PET water bottle with its label on",
    "an aluminium drink can, rinsed",
    "a pizza box with some grease stains",
    "a broken glass jar",
    "a used AA battery",
)


# The server, without background roles


def _descendants(pid: int) -> list[int]:
    """`pid` and all its descendants (Linux /proc), for CPU of multi-worker servers."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                queue.extend(int(child) for child in children)
    return found


def tree_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of a process and its live descendants."""
    readings = [process_cpu_s(each) for each in _descendants(pid)]
    known = [r for r in readings if r is not None]
    return sum(known) if known else None


async def start_eco(url: str, data_dir: Path, log_level: str, workers: int) -> Server:
    """`ensemble serve --app eco --no-background` (output in `<data-dir>/server-eco.log`),
    polled on /health until a deadline."""
    server = spawn_server(
        url,
        data_dir,
        log_level,
        "eco",
        {"WEB_WORKERS": str(workers)},
        args=["--no-background"],
        log_name="server-eco.log",
    )
    return await until_healthy(server, "the ECO² server")


# Users


async def sign_in(client: httpx.AsyncClient, users: int) -> list[str]:
    """Access tokens of `users` bench users (signed up the first time, 409 later)."""
    tokens = []
    for number in range(users):
        credentials = {"email": f"bench-eco-{number}@example.com", "password": PASSWORD}
        response = await client.post(f"{API}/auth/signup", json=credentials)
        if response.status_code not in (201, 409):
            raise RuntimeError(f"signup: {response.status_code} {response.text}")
        response = await client.post(f"{API}/auth/login", json=credentials)
        response.raise_for_status()
        tokens.append(response.json()["access_token"])
    return tokens


async def account_ids(pool: asyncpg.Pool, users: int) -> list[uuid.UUID]:
    emails = [f"bench-eco-{number}@example.com" for number in range(users)]
    rows = await pool.fetch(
        "SELECT id FROM identity.accounts WHERE realm = 'eco' AND email = ANY($1::text[])",
        emails,
    )
    return [row["id"] for row in rows]


# The series


def body(index: int) -> dict[str, str]:
    return {"user_input": TEXTS[index % len(TEXTS)]}


async def through_api(
    base_url: str, tokens: list[str], total: int, concurrency: int, server_pid: int
) -> tuple[Stats, Stats, list[str]]:
    server: list[float] = []
    client_rtt: list[float] = []
    scan_ids: list[str] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = [{"Authorization": f"Bearer {token}"} for token in tokens]
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:

        async def one(index: int) -> None:
            request_headers = {
                **headers[index % len(headers)],
                "Idempotency-Key": uuid.uuid4().hex,
            }
            started = time.perf_counter()
            response = await client.post(
                f"{API}/scan/classify", json=body(index), headers=request_headers
            )
            client_rtt.append((time.perf_counter() - started) * 1000)
            if response.status_code != 202:
                raise RuntimeError(f"{response.status_code}: {response.text}")
            server.append(server_ms(response))
            scan_ids.append(response.json()["task_id"])

        cpu_before = tree_cpu_s(server_pid)
        wall = await run_concurrently(total, concurrency, one)
        cpu_after = tree_cpu_s(server_pid)
    cpu_ms = (
        (cpu_after - cpu_before) / total * 1000
        if cpu_before is not None and cpu_after is not None
        else None
    )
    return (
        Stats("ensemble server-side", server, wall, cpu_ms=cpu_ms),
        Stats("ensemble client round trip", client_rtt, wall),
        scan_ids,
    )


PRINCIPAL_SQL = """
SELECT u.role, a.is_active
FROM eco_auth.users u JOIN identity.accounts a ON a.id = u.account_id
WHERE u.account_id = $1
"""
SCAN_SQL = """
INSERT INTO eco_scan.scans (id, user_id, idempotency_key, request_digest, user_input, status,
    sequence, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, 'processing', 1, now(), now())
ON CONFLICT (user_id, idempotency_key) DO NOTHING
RETURNING id
"""
STORED_SQL = """
INSERT INTO events.stored_events (aggregate_type, aggregate_id, sequence_number, event_id,
    type, version, payload, trace_id, occurred_at)
VALUES ('eco.scan', $1, 1, $2, 'ScanRequested', 1, $3::jsonb, $4, now())
"""
OUTBOX_SQL = """
INSERT INTO events.outbox (event_id, aggregate_type, aggregate_id, type, version, payload,
    trace_id, request_id, occurred_at)
VALUES ($1, 'eco.scan', $2, 'ScanRequested', 1, $3::jsonb, $4, $5, now())
"""
JOB_SQL = """
INSERT INTO jobs.outbox (id, job, kwargs, run_at, trace_id, request_id, created_at)
VALUES ($1, 'scan.classify', $2::jsonb, now(), $3, $4, now())
"""


async def baseline(
    pool: asyncpg.Pool, accounts: list[uuid.UUID], total: int, concurrency: int
) -> tuple[Stats, list[str]]:
    """The request's statements by hand, in one transaction each (fresh scan id and key)."""
    timings: list[float] = []
    scan_ids: list[str] = []

    async def one(index: int) -> None:
        user = accounts[index % len(accounts)]
        scan_id, event_id = new_id(), new_id()
        trace, request = uuid.uuid4().hex, uuid.uuid4().hex
        payload = json.dumps(
            {"scan_id": str(scan_id), "user_id": str(user), "image_id": None, "has_text": True}
        )
        async with pool.acquire() as connection:
            started = time.perf_counter()
            async with connection.transaction():
                row = await connection.fetchrow(PRINCIPAL_SQL, user)
                assert row is not None
                assert row["is_active"]
                created = await connection.fetchval(
                    SCAN_SQL, scan_id, user, uuid.uuid4().hex, "0" * 64, TEXTS[0]
                )
                assert created == scan_id
                await connection.execute(STORED_SQL, str(scan_id), event_id, payload, trace)
                await connection.execute(
                    OUTBOX_SQL, event_id, str(scan_id), payload, trace, request
                )
                await connection.execute("NOTIFY events_outbox")
                await connection.execute(
                    JOB_SQL, new_id(), json.dumps({"scan_id": str(scan_id)}), trace, request
                )
                await connection.execute("NOTIFY jobs_outbox")
            timings.append((time.perf_counter() - started) * 1000)
        scan_ids.append(str(scan_id))

    wall = await run_concurrently(total, concurrency, one)
    return Stats("baseline raw asyncpg", timings, wall), scan_ids


async def settle(pool: asyncpg.Pool, scan_ids: list[str]) -> None:
    """Mark this run's outbox rows sent: a relay sharing the database must not inherit them
    (the scans stay `processing`; nothing here classifies them)."""
    await pool.execute(
        "UPDATE events.outbox SET published_at = now() WHERE published_at IS NULL"
        " AND aggregate_type = 'eco.scan' AND aggregate_id = ANY($1::text[])",
        scan_ids,
    )
    await pool.execute(
        "UPDATE jobs.outbox SET dispatched_at = now() WHERE dispatched_at IS NULL"
        " AND job = 'scan.classify' AND kwargs->>'scan_id' = ANY($1::text[])",
        scan_ids,
    )


async def main(options: argparse.Namespace) -> int:
    data_dir = options.data_dir.resolve()
    url, embedded = start_postgres(data_dir)
    database = Database(url, pool_size=1)
    try:
        await migrate(database.engine)
    finally:
        await database.dispose()
    server: Server | None = None
    pool: asyncpg.Pool | None = None
    scan_ids: list[str] = []
    try:
        server = await start_eco(url, data_dir, options.log_level, options.workers)
        size = options.concurrency + 1
        pool = await asyncpg.create_pool(raw_dsn(url), min_size=size, max_size=size)
        assert pool is not None
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0) as client:
            with console.status(f"signing in {options.users} users"):
                tokens = await sign_in(client, options.users)
        accounts = await account_ids(pool, options.users)
        pid, concurrency = server.process.pid, options.concurrency
        if options.warmup:
            *_, warm = await through_api(server.base_url, tokens, options.warmup, concurrency, pid)
            _, warm_base = await baseline(pool, accounts, options.warmup, concurrency)
            scan_ids += warm + warm_base
        ours, rtt, ids = await through_api(
            server.base_url, tokens, options.requests, concurrency, pid
        )
        scan_ids += ids
        base, ids = await baseline(pool, accounts, options.requests, concurrency)
        scan_ids += ids
    finally:
        if pool is not None:
            if scan_ids:
                await settle(pool, scan_ids)
            await pool.close()
        if server is not None:
            server.stop()
        if embedded is not None and not options.keep_db:
            embedded.stop()

    report(
        f"ECO² POST /scan/classify: {options.requests:,} requests, {options.concurrency}"
        f" client(s), {options.workers} server process(es), {options.users} users",
        [ours, rtt, base],
        ratio=(ours, base),
    )
    ok = verdict("classify server-side p99", ours.p(99), TARGET_P99_MS)
    return 0 if ok else 1


if __name__ == "__main__":
    cli = load_parser(__doc__, what="requests", concurrency=1)
    cli.add_argument("--users", type=positive, default=20, help="users the requests come from")
    run(main, cli.parse_args())
