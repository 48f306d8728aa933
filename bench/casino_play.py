"""Casino-Club's game and shop endpoints at 8 clients, and spends on one hot wallet.

Runs `ensemble serve --app casino --no-background` (members signed up with enough coins to
play the whole run: `CASINO_SIGNUP_COINS`) against the bench PostgreSQL and Redis, then:

- **slot spin** `POST /api/games/slot/spin {bet: 1}`, **gacha spin** `POST /api/gacha/spin
  {banner_id: standard, count: 1}` and **shop buy** `POST /api/shop/buy` of the coin-priced
  `shield-pack`, `--requests` each from `--concurrency` clients, each request a random
  member's; server-side latency from `Server-Timing`, and the server's CPU per request;
- **baseline**: raw asyncpg doing the floor of a play in one transaction per request, from
  a pool as large as the clients: the member's nonce (`UPDATE … RETURNING`), the coin spend
  (the ledger's `UPDATE … WHERE balance >= bet RETURNING` and its entry `INSERT`) and the
  hand's `INSERT`; no HTTP, auth, fairness, action or event;
- **hot wallet**: `--hot` concurrent spins by ONE member (every request on the same ledger
  account and seed pair), spins/s next to the raw baseline on one account at the same
  concurrency. The wallet's chain is verified after the run.

    python bench/casino_play.py                 # 3,000 requests a series, 8 clients
    python bench/casino_play.py --requests 500  # a quick look
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
    run_concurrently,
    run_on_server,
    server_ms,
    spawn_server,
    start_postgres,
    start_redis,
    stop_embedded,
    until_healthy,
    verdict,
)
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database
from ensemble.kernel.ledger import verify_chain
from lean_http import LeanClient, LeanResponse

TARGET_P99_MS = 50.0
RAW_CONNECTIONS = 40
COINS = 10_000_000
"""Every bench member's sign-up coins: enough for any run."""


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str
    body: Callable[[int], dict[str, object]]
    ok: int


ENDPOINTS = (
    Endpoint("slot spin", "/api/games/slot/spin", lambda _: {"bet": 1}, 200),
    Endpoint("gacha spin", "/api/gacha/spin", lambda _: {"banner_id": "standard", "count": 1}, 200),
    Endpoint(
        "shop buy",
        "/api/shop/buy",
        lambda i: {"product_id": "shield-pack", "idempotency_key": f"bench-{i}-{uuid.uuid4()}"},
        201,
    ),
)


async def _series(
    client: LeanClient,
    endpoint: Endpoint,
    tokens: list[str],
    requests: int,
    concurrency: int,
    server_pid: int,
) -> Stats:
    chance = random.Random(7)
    callers = [chance.choice(tokens) for _ in range(requests)]
    samples: list[float] = []

    async def one(index: int) -> None:
        headers = {"Authorization": f"Bearer {callers[index]}"}
        response: LeanResponse = await client.request(
            "POST", endpoint.path, endpoint.body(index), headers=headers
        )
        if response.status_code != endpoint.ok:
            raise RuntimeError(f"{endpoint.label}: {response.status_code} {response.text}")
        samples.append(server_ms(response))

    wall, cpu_ms = await run_on_server(requests, concurrency, one, server_pid)
    return Stats(f"ensemble {endpoint.label} (server)", samples, wall, cpu_ms=cpu_ms)


_NONCE = (
    "UPDATE casino.seed_pairs SET nonce = nonce + 1"
    " WHERE user_id = $1 AND revealed_at IS NULL RETURNING nonce, server_seed_hash"
)
_SPEND = (
    "UPDATE ledger.accounts SET balance = balance - 1, last_sequence = last_sequence + 1,"
    " updated_at = now() WHERE id = $1 AND balance >= 1 RETURNING balance, last_sequence"
)
_ENTRY = (
    "INSERT INTO ledger.entries (id, account_id, sequence, direction, amount, reason,"
    " balance_before, balance_after, created_at)"
    " VALUES (gen_random_uuid(), $1, $2, 'SPEND', 1, 'bench', $3 + 1, $3, now())"
)
_HAND = (
    "INSERT INTO casino.hands (id, user_id, game_type, currency, bet, payout,"
    " server_seed_hash, nonce, table_version, outcome, played_at)"
    " VALUES (gen_random_uuid(), $1, 'slot', 'coins', 1, 0, $2, $3, 1, '{}', now())"
)


async def _wallets(pool: asyncpg.Pool) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(member, coins account) of every member with a seed pair (they played)."""
    rows = await pool.fetch(
        "SELECT p.user_id, a.id FROM casino.seed_pairs p JOIN ledger.accounts a"
        " ON a.owner_id = p.user_id AND a.currency = 'coins' WHERE p.revealed_at IS NULL"
    )
    return [(row[0], row[1]) for row in rows]


def _raw_play(
    pool: asyncpg.Pool, wallets: list[tuple[uuid.UUID, uuid.UUID]], samples: list[float]
) -> Callable[[int], Awaitable[None]]:
    """One play's floor a call, on a random wallet, its latency appended to `samples`."""
    chance = random.Random(11)

    async def one(_: int) -> None:
        user, account = chance.choice(wallets)
        started = time.perf_counter()
        async with pool.acquire() as connection, connection.transaction():
            pair = await connection.fetchrow(_NONCE, user)
            spent = await connection.fetchrow(_SPEND, account)
            assert pair is not None
            assert spent is not None
            await connection.execute(_ENTRY, account, spent["last_sequence"], spent["balance"])
            await connection.execute(_HAND, user, pair["server_seed_hash"], pair["nonce"])
        samples.append((time.perf_counter() - started) * 1000)

    return one


async def _baseline(
    pool: asyncpg.Pool, wallets: list[tuple[uuid.UUID, uuid.UUID]], requests: int, clients: int
) -> Stats:
    samples: list[float] = []
    wall = await run_concurrently(requests, clients, _raw_play(pool, wallets, samples))
    return Stats("baseline play (asyncpg)", samples, wall)


async def main(options: argparse.Namespace) -> int:
    data_dir = options.data_dir.resolve()
    url, embedded = start_postgres(data_dir)
    redis_url, embedded_redis = start_redis(data_dir)
    database = Database(url, pool_size=1)
    await migrate(database.engine)
    env = {
        "REDIS_URL": redis_url,
        "WEB_WORKERS": str(options.workers),
        "CASINO_SIGNUP_COINS": str(COINS),
    }
    server = await until_healthy(
        spawn_server(
            url, data_dir, options.log_level, "casino", env,
            args=["--no-background"], log_name="server-casino.log",
        )
    )  # fmt: skip
    clients = options.concurrency
    # the raw clients share at most RAW_CONNECTIONS, as the server's requests share its pool
    pool = await asyncpg.create_pool(raw_dsn(url), min_size=2, max_size=RAW_CONNECTIONS)
    assert pool is not None
    pid = server.process.pid
    passed = True
    try:
        async with LeanClient(server.base_url, {}, clients) as client:
            with console.status(f"signing up {options.members} members"):
                tokens = await casino_members(client, options.members, clients)
            for endpoint in ENDPOINTS:  # a warm-up: every member gets a seed pair
                await _series(client, endpoint, tokens, len(tokens), clients, pid)
            measured = [
                await _series(client, endpoint, tokens, options.requests, clients, pid)
                for endpoint in ENDPOINTS
            ]
        wallets = await _wallets(pool)
        base = await _baseline(pool, wallets, options.requests, clients)
        report(f"game and shop endpoints, {clients} clients", [*measured, base])
        for stats in measured:
            passed &= verdict(f"{stats.label} p99", stats.p(99), TARGET_P99_MS)
        # opened now: an idle keep-alive connection is closed by the server after 5 s
        async with LeanClient(server.base_url, {}, options.hot) as client:
            slot = ENDPOINTS[0]
            hot = await _series(client, slot, tokens[:1], options.requests, options.hot, pid)
        hot_base = await _baseline(pool, wallets[:1], options.requests, options.hot)
        report(
            f"one hot wallet, {options.hot} concurrent spins",
            [hot, hot_base],
            ratio=(hot, hot_base),
            throughput_unit="spins/s",
        )
        async with database.sessionmaker() as session:
            problems = await verify_chain(session, wallets[0][1], limit=10_000_000)
        console.print(f"hot wallet chain: {'sound' if not problems else problems[:3]}")
        return 0 if passed and not problems else 1
    finally:
        await pool.close()
        await database.dispose()
        server.stop()
        stop_embedded(embedded_redis, embedded, keep=options.keep_db)


if __name__ == "__main__":
    cli = parser(__doc__ or "", products=False)
    cli.add_argument("--requests", type=positive, default=3000, help="requests a series")
    cli.add_argument("--members", type=positive, default=100, help="members playing")
    cli.add_argument("--concurrency", type=positive, default=8, help="concurrent clients")
    cli.add_argument("--hot", type=positive, default=200, help="spins at once on one wallet")
    run(main, cli.parse_args())
