"""Stock in/out: POST /api/v1/stores/{store}/inventory/transactions on random products.

Concurrent clients record IN and OUT movements on products drawn from a random sample of
the 1M-product store (an OUT only when the last known stock allows it, so nearly every
request succeeds). Reports the server-side time (`Server-Timing`), the client round trip and
the throughput, next to a baseline of raw asyncpg doing the same writes in one transaction
each: insert the transaction row, then the atomic
`UPDATE current_stock ... WHERE quantity + delta >= 0 RETURNING quantity` (that guard only
for an OUT, as the service does: an IN always applies).
Target: server-side p99 < 25 ms.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from common import (
    API,
    Bench,
    Stats,
    console,
    load_parser,
    prepared,
    report,
    run,
    run_concurrently,
    server_ms,
    verdict,
)
from ensemble.kernel.db import new_id

TARGET_P99_MS = 25.0

INSERT_SQL = """
INSERT INTO stock.inventory_transactions
    (id, store_id, product_id, type, quantity, delta, reason, occurred_at, created_at, synced_at)
VALUES ($1, $2, $3, $4::stock.transaction_type, $5, $6, NULL, now(), now(), now())
"""
UPDATE_SQL = """
UPDATE stock.current_stock SET quantity = quantity + $2, updated_at = now()
WHERE product_id = $1 AND (quantity + $2 >= 0 OR $2 >= 0)
RETURNING quantity
"""


class InsufficientStock(Exception):
    """The baseline's UPDATE matched no row: roll the movement back."""


@dataclass
class Workload:
    """Random movements over a product sample, tracking the last stock seen of each."""

    bench: Bench
    products: list[uuid.UUID]
    known: dict[uuid.UUID, int]
    outcomes: Counter[str] = field(default_factory=Counter)

    def next_movement(self) -> tuple[uuid.UUID, str, int]:
        rng = self.bench.rng
        product = rng.choice(self.products)
        quantity = rng.randint(1, 5)
        if rng.random() < 0.5 and self.known[product] >= quantity:
            return product, "OUT", quantity
        return product, "IN", quantity


async def through_api(work: Workload, total: int, concurrency: int) -> tuple[Stats, Stats]:
    server: list[float] = []
    client_rtt: list[float] = []
    path = f"{API}/stores/{work.bench.store_id}/inventory/transactions"
    async with work.bench.lean_client(concurrency) as client:

        async def one(_: int) -> None:
            product, kind, quantity = work.next_movement()
            body = {"product_id": str(product), "type": kind, "quantity": quantity}
            started = time.perf_counter()
            response = await client.post(path, json=body)
            client_rtt.append((time.perf_counter() - started) * 1000)
            server.append(server_ms(response))
            if response.status_code == 201:
                work.known[product] = response.json()["stock"]["quantity"]
                work.outcomes[f"api {kind} 201"] += 1
            elif response.status_code == 409:
                work.outcomes[f"api {kind} 409"] += 1
            else:
                raise RuntimeError(f"{response.status_code}: {response.text}")

        cpu_before = work.bench.server_cpu_s()
        wall = await run_concurrently(total, concurrency, one)
    return (
        Stats(
            "ensemble server-side",
            server,
            wall,
            cpu_ms=work.bench.server_cpu_ms_per(cpu_before, total),
        ),
        Stats("ensemble client round trip", client_rtt, wall),
    )


async def _baseline_one(
    connection: asyncpg.Connection | PoolConnectionProxy,
    store_id: uuid.UUID,
    product: uuid.UUID,
    kind: str,
    quantity: int,
) -> int:
    delta = quantity if kind == "IN" else -quantity
    async with connection.transaction():
        await connection.execute(INSERT_SQL, new_id(), store_id, product, kind, quantity, delta)
        stock: int | None = await connection.fetchval(UPDATE_SQL, product, delta)
        if stock is None:
            raise InsufficientStock
    return stock


async def baseline(work: Workload, total: int, concurrency: int) -> Stats:
    timings: list[float] = []

    async def one(_: int) -> None:
        product, kind, quantity = work.next_movement()
        async with work.bench.pool.acquire() as connection:
            started = time.perf_counter()
            try:
                stock = await _baseline_one(
                    connection, work.bench.store_id, product, kind, quantity
                )
            except InsufficientStock:
                work.outcomes[f"baseline {kind} rejected"] += 1
            else:
                work.known[product] = stock
                work.outcomes[f"baseline {kind} ok"] += 1
            timings.append((time.perf_counter() - started) * 1000)

    wall = await run_concurrently(total, concurrency, one)
    return Stats("baseline raw asyncpg", timings, wall)


async def write_each_product_once(work: Workload, concurrency: int) -> None:
    """One IN of 1 on every sampled product, through raw asyncpg, before either series.

    After a checkpoint, PostgreSQL writes a whole 8 KB page image to the WAL on the first
    change of each page: whichever series first wrote a sampled product paid that, which
    made the first series' p99 look 5-8x worse than the second's, either way round."""
    products = list(work.products)

    async def one(index: int) -> None:
        product = products[index]
        async with work.bench.pool.acquire() as connection:
            work.known[product] = await _baseline_one(
                connection, work.bench.store_id, product, "IN", 1
            )

    await run_concurrently(len(products), concurrency, one)


async def main(options: argparse.Namespace) -> int:
    async with prepared(options, pool_size=options.concurrency) as bench:
        sample = await bench.sample_products(options.sample)
        work = Workload(bench, [pid for pid, _ in sample], dict(sample))
        await write_each_product_once(work, options.concurrency)
        await through_api(work, options.warmup, options.concurrency)
        await baseline(work, options.warmup, options.concurrency)
        work.outcomes.clear()
        server, client_rtt = await through_api(work, options.requests, options.concurrency)
        base = await baseline(work, options.requests, options.concurrency)
    report(
        f"stock in/out: {options.requests:,} movements, {options.concurrency} clients,"
        f" {len(work.products):,} products sampled from {options.products:,}",
        [server, client_rtt, base],
        ratio=(server, base),
    )
    console.print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(work.outcomes.items())))
    ok = verdict("stock in/out server-side p99", server.p(99), TARGET_P99_MS)
    return 0 if ok else 1


if __name__ == "__main__":
    run(main, load_parser(__doc__, what="movements", concurrency=8, sample=True).parse_args())
