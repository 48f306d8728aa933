"""Casino-Club `POST /api/actions`: actions/s and latency under many concurrent clients.

Runs `ensemble serve --app casino` (by default `--no-background`: the API alone; with
`--background` the relay and the achievements consumer run too) against the bench
PostgreSQL, signs up `--members` members, then `--concurrency` clients post `--requests`
actions (random types and small contexts, some with personal data to strip) over keep-alive
connections. Each accepted action is committed (grouped with concurrent ones) with its
`casino.action` outbox event before its 201. The baseline is raw asyncpg `COPY` of the same
number of rows into `casino.actions` and `events.outbox`, in transactions of `--copy-batch`
rows: the floor of writing them, with no HTTP, auth or validation. The ceiling is the same
clients sending `GET /health` (no auth, no database) to the same server: the most requests a
second this machine serves through this HTTP stack while the client shares its cores.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from common import (
    Stats,
    casino_members,
    console,
    parser,
    positive,
    raw_dsn,
    report,
    run,
    run_on_server,
    server_ms,
    spawn_server,
    start_postgres,
    start_redis,
    stop_embedded,
    until_healthy,
)
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database
from lean_http import LeanClient

TARGET_RATE = 5000.0
TARGET_P99_MS = 50.0
TYPES = ["PAGE_VIEW", "BUTTON_CLICK", "LOGIN", "REWARD_CLAIM", "SHOP_PURCHASE"]


def _context(chance: random.Random) -> dict[str, object]:
    context: dict[str, object] = {"screen": chance.choice(["home", "slot", "shop", "gacha"])}
    if chance.random() < 0.5:
        context["button"] = f"b{chance.randrange(20)}"
    if chance.random() < 0.1:
        context["email"] = "someone@example.com"
        context["note"] = "call 010-1234-5678"
    return context


async def _actions(
    client: LeanClient,
    tokens: list[str],
    requests: int,
    concurrency: int,
    chance: random.Random,
    server_pid: int,
) -> tuple[Stats, Stats]:
    bodies = [
        ({"action_type": chance.choice(TYPES), "context": _context(chance)}, chance.choice(tokens))
        for _ in range(requests)
    ]
    server: list[float] = []
    client_side: list[float] = []

    async def one(index: int) -> None:
        body, token = bodies[index]
        started = time.perf_counter()
        response = await client.request(
            "POST", "/api/actions", body, headers={"Authorization": f"Bearer {token}"}
        )
        client_side.append((time.perf_counter() - started) * 1000)
        if response.status_code != 201:
            raise RuntimeError(f"action: {response.status_code} {response.text}")
        server.append(server_ms(response))

    wall, cpu_ms = await run_on_server(requests, concurrency, one, server_pid)
    return (
        Stats("ensemble POST /api/actions (server)", server, wall, cpu_ms=cpu_ms),
        Stats("ensemble POST /api/actions (client)", client_side, wall),
    )


async def _ceiling(client: LeanClient, requests: int, concurrency: int, server_pid: int) -> Stats:
    """`GET /health` from the same clients: the rate of the HTTP stack alone."""
    samples: list[float] = []

    async def one(_: int) -> None:
        response = await client.request("GET", "/health")
        if response.status_code != 200:
            raise RuntimeError(f"health: {response.status_code} {response.text}")
        samples.append(server_ms(response))

    wall, cpu_ms = await run_on_server(requests, concurrency, one, server_pid)
    return Stats("ceiling GET /health (server)", samples, wall, cpu_ms=cpu_ms)


async def _copy_baseline(
    pool: asyncpg.Pool, users: list[uuid.UUID], rows: int, batch: int, chance: random.Random
) -> Stats:
    """The same rows (an action and its outbox event each) by raw COPY, `batch` a transaction."""
    samples: list[float] = []
    started = time.perf_counter()
    async with pool.acquire() as connection:
        for first in range(0, rows, batch):
            count = min(batch, rows - first)
            now = datetime.now(UTC)
            actions, events = [], []
            for _ in range(count):
                action_id, user, kind = uuid.uuid4(), chance.choice(users), chance.choice(TYPES)
                context = json.dumps(_context(chance))
                actions.append((action_id, user, kind, context, now))
                payload = json.dumps(
                    {"action_id": str(action_id), "user_id": str(user), "action_type": kind}
                )
                events.append(
                    (uuid.uuid4(), "casino.action", str(user), "casino.action", 1, payload, now)
                )
            one = time.perf_counter()
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "actions",
                    schema_name="casino",
                    columns=["id", "user_id", "action_type", "context", "created_at"],
                    records=actions,
                )
                await connection.copy_records_to_table(
                    "outbox",
                    schema_name="events",
                    columns=[
                        "event_id", "aggregate_type", "aggregate_id", "type", "version",
                        "payload", "occurred_at",
                    ],
                    records=events,
                )  # fmt: skip
            samples.append((time.perf_counter() - one) * 1000)
    wall = time.perf_counter() - started
    return Stats(f"baseline COPY ({batch} rows a transaction)", samples, wall, count=rows)


async def main(options: argparse.Namespace) -> int:
    data_dir = options.data_dir.resolve()
    url, embedded = start_postgres(data_dir)
    redis_url, embedded_redis = start_redis(data_dir)
    database = Database(url, pool_size=1)
    await migrate(database.engine)
    await database.dispose()
    args = [] if options.background else ["--no-background"]
    server = await until_healthy(
        spawn_server(
            url,
            data_dir,
            options.log_level,
            "casino",
            {"REDIS_URL": redis_url, "WEB_WORKERS": str(options.workers)},
            args=args,
            log_name="server-casino.log",
        )
    )
    pool = await asyncpg.create_pool(raw_dsn(url), min_size=1, max_size=2)
    assert pool is not None
    chance = random.Random(options.seed)
    try:
        async with LeanClient(server.base_url, {}, options.concurrency) as client:
            with console.status(f"signing up {options.members} members"):
                tokens = await casino_members(client, options.members, min(8, options.concurrency))
            if options.warmup:
                await _actions(
                    client, tokens, options.warmup, options.concurrency, chance, server.process.pid
                )
            ours, seen = await _actions(
                client, tokens, options.requests, options.concurrency, chance, server.process.pid
            )
            ceiling = await _ceiling(
                client, options.requests, options.concurrency, server.process.pid
            )
        rows = await pool.fetch("SELECT account_id FROM casino.users LIMIT 100")
        users = [row["account_id"] for row in rows]
        base = await _copy_baseline(pool, users, options.requests, options.copy_batch, chance)
        report("POST /api/actions", [ours, seen, ceiling, base], throughput_unit="actions/s")
        rate = ours.throughput or 0.0
        passed = rate >= TARGET_RATE
        mark = "[green]PASS[/]" if passed else "[red]MISS[/]"
        console.print(f"{mark} throughput: {rate:,.0f} actions/s (target ≥ {TARGET_RATE:,.0f})")
        p99 = ours.p(99)
        ok = p99 < TARGET_P99_MS
        console.print(
            f"{'[green]PASS[/]' if ok else '[red]MISS[/]'} p99 (server): {p99:.2f} ms"
            f" (target < {TARGET_P99_MS:g} ms)"
        )
        return 0 if passed and ok else 1
    finally:
        await pool.close()
        server.stop()
        stop_embedded(embedded_redis, embedded, keep=options.keep_db)


if __name__ == "__main__":
    cli = parser(__doc__ or "", products=False)
    cli.add_argument("--requests", type=positive, default=20_000, help="measured actions")
    cli.add_argument("--warmup", type=int, default=1000, help="unmeasured actions first")
    cli.add_argument("--members", type=positive, default=50, help="members posting actions")
    cli.add_argument("--concurrency", type=positive, default=64, help="concurrent clients")
    cli.add_argument(
        "--copy-batch", type=positive, default=500, help="rows per transaction of the baseline"
    )
    cli.add_argument(
        "--background",
        action="store_true",
        help="run the relay and consumers in the server too (`serve` without --no-background)",
    )
    run(main, cli.parse_args())
