"""B0 travel: ticket purchase latency, and the delay from arrival to COMPLETED.

Runs `ensemble serve --app b0` (with its worker, scheduler and embedded Redis) against the
bench PostgreSQL. Purchases are measured server-side (Server-Timing) next to a raw-asyncpg
baseline doing the same statements in one transaction each; arrival delay is
`completed_at − arrival_datetime` of tickets whose flights land while the benchmark watches.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import timedelta

import asyncpg

from common import (
    API,
    BENCH_SECRET,
    Stats,
    console,
    parser,
    positive,
    process_cpu_s,
    raw_dsn,
    report,
    run,
    run_concurrently,
    server_ms,
    start_postgres,
    start_server,
    verdict,
)
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database
from ensemble.kernel.identity.external import external_secret, sign_dev_token
from ensemble.settings import Settings
from lean_http import LeanClient

PURCHASE_TARGET_P99_MS = 30.0
ARRIVAL_TARGET_P99_MS = 2000.0


def _token(sub: str) -> str:
    secret = external_secret(Settings(secret_key=BENCH_SECRET))
    assert secret is not None
    return sign_dev_token(secret, sub, None, timedelta(hours=2))


async def _catalogue(
    pool: asyncpg.Pool, flight_seconds: float
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A long-haul city (purchases), a short-hop city (arrivals) and an airship."""

    async def city(name: str, hours: float) -> uuid.UUID:
        city_id: uuid.UUID = await pool.fetchval(
            "INSERT INTO b0.cities (id, name, is_active, base_cost_points, base_duration_hours,"
            " display_order, created_at, updated_at) VALUES (gen_random_uuid(), $1, true, 10, $2,"
            " 99, now(), now()) RETURNING id",
            name, hours,
        )  # fmt: skip
        return city_id

    airship: uuid.UUID = await pool.fetchval(
        "INSERT INTO b0.airships (id, name, cost_factor, duration_factor, is_active, display_order,"
        " created_at, updated_at) VALUES (gen_random_uuid(), 'Bench', 1, 1, true, 99, now(), now())"
        " RETURNING id"
    )  # fmt: skip
    return await city("Bench Far", 24.0), await city("Bench Near", flight_seconds / 3600), airship


async def _register(client: LeanClient, count: int, concurrency: int) -> list[str]:
    tokens = [_token(f"bench-{uuid.uuid4().hex}") for _ in range(count)]

    async def one(index: int) -> None:
        response = await client.request(
            "POST", f"{API}/users", headers={"Authorization": f"Bearer {tokens[index]}"}
        )
        if response.status_code != 201:
            raise RuntimeError(f"sign-up: {response.status_code} {response.text}")

    await run_concurrently(count, concurrency, one)
    return tokens


async def _purchases(
    client: LeanClient,
    tokens: list[str],
    city: uuid.UUID,
    airship: uuid.UUID,
    concurrency: int,
    server_pid: int,
) -> Stats:
    samples: list[float] = []
    body = {"city_id": str(city), "airship_id": str(airship)}

    async def one(index: int) -> None:
        response = await client.request(
            "POST", f"{API}/tickets", body, headers={"Authorization": f"Bearer {tokens[index]}"}
        )
        if response.status_code != 201:
            raise RuntimeError(f"purchase: {response.status_code} {response.text}")
        samples.append(server_ms(response))

    cpu_before = process_cpu_s(server_pid) or 0.0
    wall = await run_concurrently(len(tokens), concurrency, one)
    cpu_ms = ((process_cpu_s(server_pid) or 0.0) - cpu_before) / len(tokens) * 1000
    return Stats("ensemble purchase (server)", samples, wall, cpu_ms=cpu_ms)


_BASELINE_USER = "INSERT INTO b0.users (id, created_at, updated_at) VALUES ($1, now(), now())"
_BASELINE_ACCOUNT = (
    "INSERT INTO ledger.accounts (id, owner_realm, owner_id, currency, balance, last_sequence,"
    " created_at, updated_at)"
    " VALUES (gen_random_uuid(), 'bench', $1, 'POINTS', 100, 0, now(), now())"
    " RETURNING id"
)


async def _baseline(
    pool: asyncpg.Pool, count: int, city: uuid.UUID, airship: uuid.UUID, concurrency: int
) -> Stats:
    """The purchase's statements by hand: lock user, count trips, spend, entry, ticket, outbox."""
    users = [uuid.uuid4() for _ in range(count)]
    accounts = []
    for user in users:
        await pool.execute(_BASELINE_USER, user)
        accounts.append(await pool.fetchval(_BASELINE_ACCOUNT, user))
    samples: list[float] = []

    async def one(index: int) -> None:
        started = time.perf_counter()
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "SELECT id FROM b0.users WHERE id = $1 FOR UPDATE", users[index]
            )
            await connection.fetchval(
                "SELECT count(*) FROM b0.tickets WHERE user_id = $1 AND status = 'BOARDING'",
                users[index],
            )
            row = await connection.fetchrow(
                "UPDATE ledger.accounts SET balance = balance - 10,"
                " last_sequence = last_sequence + 1"
                " WHERE id = $1 AND balance >= 10 RETURNING balance, last_sequence",
                accounts[index],
            )
            assert row is not None
            await connection.execute(
                "INSERT INTO ledger.entries (id, account_id, sequence, direction, amount, reason,"
                " balance_before, balance_after, created_at) VALUES (gen_random_uuid(), $1, $2,"
                " 'SPEND', 10, 'TICKET', $3 + 10, $3, now())",
                accounts[index], row["last_sequence"], row["balance"],
            )  # fmt: skip
            await connection.execute(
                "INSERT INTO b0.tickets (id, ticket_number, user_id, city_id, airship_id,"
                " city_snapshot, airship_snapshot, cost_points, status, departure_datetime,"
                " arrival_datetime, created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, $3,"
                " $4, '{}', '{}', 10, 'BOARDING', now(), now() + interval '1 day', now(), now())",
                f"BENCH-{uuid.uuid4().hex[:12]}", users[index], city, airship,
            )  # fmt: skip
            await connection.execute(
                "INSERT INTO jobs.outbox (id, job, kwargs, run_at, created_at) VALUES"
                " (gen_random_uuid(), 'bench.noop', '{}', now() + interval '1 day', now())"
            )
        samples.append((time.perf_counter() - started) * 1000)

    wall = await run_concurrently(count, concurrency, one)
    return Stats("baseline purchase (asyncpg)", samples, wall)


async def _arrival_delays(
    pool: asyncpg.Pool, city: uuid.UUID, tickets: int, timeout_s: float
) -> Stats:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = await pool.fetch(
            "SELECT extract(epoch FROM completed_at - arrival_datetime) * 1000 AS delay"
            " FROM b0.tickets"
            " WHERE city_id = $1 AND completed_at IS NOT NULL",
            city,
        )
        if len(rows) >= tickets:
            return Stats("arrival → COMPLETED", [float(r["delay"]) for r in rows])
        await asyncio.sleep(0.5)
    raise RuntimeError(f"only some of {tickets} tickets completed within {timeout_s:.0f} s")


async def main(options: argparse.Namespace) -> int:
    data_dir = options.data_dir.resolve()
    url, embedded = start_postgres(data_dir)
    database = Database(url, pool_size=1)
    await migrate(database.engine)
    await database.dispose()
    server = await start_server(
        url,
        data_dir,
        options.log_level,
        app="b0",
        env={"REDIS_URL": "", "WEB_WORKERS": str(options.workers)},
    )
    pool = await asyncpg.create_pool(raw_dsn(url), min_size=4, max_size=options.concurrency + 2)
    assert pool is not None
    try:
        far, near, airship = await _catalogue(pool, options.flight_seconds)
        pid = server.process.pid
        async with LeanClient(server.base_url, {}, options.concurrency) as client:
            with console.status("registering travellers"):
                buyers = await _register(client, options.purchases, options.concurrency)
                flyers = await _register(client, options.arrivals, options.concurrency)
            ours = await _purchases(client, buyers, far, airship, options.concurrency, pid)
            base = await _baseline(pool, options.purchases, far, airship, options.concurrency)
            report("ticket purchase", [ours, base], ratio=(ours, base))
            await _purchases(client, flyers, near, airship, options.concurrency, pid)
        with console.status(f"waiting for {options.arrivals} arrivals"):
            delays = await _arrival_delays(
                pool, near, options.arrivals, options.flight_seconds + 60
            )
        report("arrival delay", [delays])
        passed = verdict("purchase p99 (server)", ours.p(99), PURCHASE_TARGET_P99_MS)
        passed &= verdict("arrival → COMPLETED p99", delays.p(99), ARRIVAL_TARGET_P99_MS)
        return 0 if passed else 1
    finally:
        await pool.close()
        server.stop()
        if embedded is not None and not options.keep_db:
            embedded.stop()


if __name__ == "__main__":
    cli = parser(__doc__ or "")
    cli.add_argument(
        "--purchases", type=positive, default=1000, help="tickets bought (one per user)"
    )
    cli.add_argument("--arrivals", type=positive, default=200, help="short flights to watch land")
    cli.add_argument(
        "--flight-seconds", type=float, default=5.0, help="length of the short flights"
    )
    cli.add_argument("--concurrency", type=positive, default=8, help="concurrent clients")
    run(main, cli.parse_args())
