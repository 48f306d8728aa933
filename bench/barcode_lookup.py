"""Barcode lookup: GET /api/v1/stores/{store}/products/barcode/{barcode} on a 1M-product store.

Random existing barcodes from a few concurrent clients. Reports the server-side time (from
`Server-Timing`), the client round trip and the throughput, next to a baseline of raw
asyncpg running the same product-with-stock SQL (`repository.product_by_barcode`) from the
same number of concurrent connections. Target: server-side p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import time

from common import (
    API,
    Bench,
    Stats,
    load_parser,
    prepared,
    report,
    run,
    run_concurrently,
    server_ms,
    verdict,
)

TARGET_P99_MS = 10.0

# What SQLAlchemy emits for `repository.product_by_barcode` (the ORM selects every column).
LOOKUP_SQL = """
SELECT p.id, p.store_id, p.barcode, p.name, p.category_id, p.unit_price, p.safety_stock,
       p.created_at, p.updated_at, p.updated_by, p.version_digest, p.deleted_at, p.synced_at,
       p.change_xid, p.change_seq, coalesce(s.quantity, $1::integer) AS stock
FROM stock.products p LEFT OUTER JOIN stock.current_stock s ON s.product_id = p.id
WHERE p.store_id = $2::uuid AND p.barcode = $3::varchar AND p.deleted_at IS NULL
"""


async def through_api(bench: Bench, total: int, concurrency: int) -> tuple[Stats, Stats]:
    barcodes = [bench.random_barcode() for _ in range(total)]
    server: list[float] = []
    client_rtt: list[float] = []
    prefix = f"{API}/stores/{bench.store_id}/products/barcode/"
    async with bench.lean_client(concurrency) as client:

        async def one(index: int) -> None:
            started = time.perf_counter()
            response = await client.get(prefix + barcodes[index])
            client_rtt.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.text}")
            server.append(server_ms(response))

        cpu_before = bench.server_cpu_s()
        wall = await run_concurrently(total, concurrency, one)
    return (
        Stats(
            "ensemble server-side", server, wall, cpu_ms=bench.server_cpu_ms_per(cpu_before, total)
        ),
        Stats("ensemble client round trip", client_rtt, wall),
    )


async def baseline(bench: Bench, total: int, concurrency: int) -> Stats:
    barcodes = [bench.random_barcode() for _ in range(total)]
    timings: list[float] = []

    async def one(index: int) -> None:
        async with bench.pool.acquire() as connection:
            started = time.perf_counter()
            row = await connection.fetchrow(LOOKUP_SQL, 0, bench.store_id, barcodes[index])
            timings.append((time.perf_counter() - started) * 1000)
        if row is None:
            raise RuntimeError(f"barcode {barcodes[index]} not found")

    wall = await run_concurrently(total, concurrency, one)
    return Stats("baseline raw asyncpg", timings, wall)


async def main(options: argparse.Namespace) -> int:
    async with prepared(options, pool_size=options.concurrency) as bench:
        await through_api(bench, options.warmup, options.concurrency)
        await baseline(bench, options.warmup, options.concurrency)
        server, client_rtt = await through_api(bench, options.requests, options.concurrency)
        base = await baseline(bench, options.requests, options.concurrency)
    report(
        f"barcode lookup: {options.requests:,} requests, {options.concurrency} clients,"
        f" {options.products:,} products",
        [server, client_rtt, base],
        ratio=(server, base),
    )
    ok = verdict("barcode lookup server-side p99", server.p(99), TARGET_P99_MS)
    return 0 if ok else 1


if __name__ == "__main__":
    run(main, load_parser(__doc__, what="requests", concurrency=4).parse_args())
