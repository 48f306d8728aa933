"""Offline sync: POST /api/v1/sync with batches of 1,000 records into the 1M-product store.

Each batch holds fresh ids: by default 900 IN/OUT transactions on existing products and 100
new products (upserts). Reports the server-side time per batch (`Server-Timing`) and the
client round trip, next to a baseline of raw asyncpg writing the same rows in one
transaction (COPY of products, their stock rows and the transactions, then one set-wise
stock UPDATE). Target: < 1 s per 1,000 records.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from common import (
    API,
    Bench,
    Stats,
    console,
    parser,
    positive,
    prepared,
    report,
    run,
    server_ms,
    verdict,
)
from ensemble.apps.stock.domain import product_digest
from ensemble.kernel.db import new_id

TARGET_MS = 1000.0
SYNC_TIMEOUT_S = 60.0


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def make_batch(
    bench: Bench, products: list[uuid.UUID], transactions: int, new_products: int
) -> dict[str, Any]:
    """A sync request body with fresh ids: transactions on `products`, plus new products."""
    rng = bench.rng
    now = datetime.now(UTC)
    moves = []
    for index in range(transactions):
        occurred = now - timedelta(seconds=transactions - index)
        moves.append(
            {
                "id": str(new_id()),
                "product_id": str(rng.choice(products)),
                "type": rng.choice(("IN", "OUT")),
                "quantity": rng.randint(1, 5),
                "reason": "bench",
                "occurred_at": _iso(occurred),
                "created_at": _iso(occurred),
            }
        )
    fresh = []
    for _ in range(new_products):
        product_id = new_id()
        fresh.append(
            {
                "id": str(product_id),
                "barcode": f"S{product_id.hex}",
                "name": f"Synced {product_id.hex[:12]}",
                "unit_price": rng.randint(500, 50_000),
                "safety_stock": rng.randint(0, 20),
                "updated_at": _iso(now),
            }
        )
    return {
        "device_id": f"bench-{uuid.uuid4().hex[:12]}",
        "store_id": str(bench.store_id),
        "transactions": moves,
        "products": fresh,
    }


async def through_api(
    bench: Bench, bodies: list[dict[str, Any]], statuses: Counter[str]
) -> tuple[Stats, Stats]:
    server: list[float] = []
    client_rtt: list[float] = []
    records = 0
    async with bench.client(1) as client:
        cpu_before = bench.server_cpu_s()
        started_all = time.perf_counter()
        for body in bodies:
            started = time.perf_counter()
            response = await client.post(f"{API}/sync", json=body, timeout=SYNC_TIMEOUT_S)
            client_rtt.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.text[:500]}")
            server.append(server_ms(response))
            for result in response.json()["results"]:
                statuses[f"{result['entity']} {result['status']}"] += 1
            records += len(body["transactions"]) + len(body["products"])
        wall = time.perf_counter() - started_all
    return (
        Stats(
            "ensemble server-side",
            server,
            wall,
            records,
            bench.server_cpu_ms_per(cpu_before, len(bodies)),
        ),
        Stats("ensemble client round trip", client_rtt, wall, records),
    )


PRODUCT_COLUMNS = (
    "id", "store_id", "barcode", "name", "category_id", "unit_price", "safety_stock",
    "created_at", "updated_at", "updated_by", "version_digest", "deleted_at", "synced_at",
)  # fmt: skip
TRANSACTION_COLUMNS = (
    "id", "store_id", "product_id", "type", "quantity", "delta", "reason", "occurred_at",
    "created_at", "synced_at", "device_id", "user_id",
)  # fmt: skip
STOCK_UPDATE_SQL = """
UPDATE stock.current_stock AS s SET quantity = s.quantity + v.delta, updated_at = now()
FROM unnest($1::uuid[], $2::bigint[]) AS v(product_id, delta) WHERE s.product_id = v.product_id
"""


def _rows(
    bench: Bench, body: dict[str, Any]
) -> tuple[
    list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], dict[uuid.UUID, int]
]:
    now = datetime.now(UTC)
    device = body["device_id"]
    products: list[tuple[Any, ...]] = []
    stock: list[tuple[Any, ...]] = []
    for record in body["products"]:
        product_id = uuid.UUID(record["id"])
        updated = datetime.fromisoformat(record["updated_at"])
        content = {k: record.get(k) for k in ("barcode", "name", "unit_price", "safety_stock")}
        products.append(
            (product_id, bench.store_id, record["barcode"], record["name"], None,
             record["unit_price"], record["safety_stock"], now, updated, device,
             product_digest(content), None, now)
        )  # fmt: skip
        stock.append((product_id, bench.store_id, 0, now))
    moves: list[tuple[Any, ...]] = []
    totals: dict[uuid.UUID, int] = {}
    for record in body["transactions"]:
        product_id = uuid.UUID(record["product_id"])
        delta = record["quantity"] if record["type"] == "IN" else -record["quantity"]
        totals[product_id] = totals.get(product_id, 0) + delta
        moves.append(
            (uuid.UUID(record["id"]), bench.store_id, product_id, record["type"],
             record["quantity"], delta, record["reason"],
             datetime.fromisoformat(record["occurred_at"]),
             datetime.fromisoformat(record["created_at"]), now, device, None)
        )  # fmt: skip
    return products, stock, moves, totals


async def baseline(bench: Bench, bodies: list[dict[str, Any]]) -> Stats:
    timings: list[float] = []
    records = 0
    started_all = time.perf_counter()
    for body in bodies:
        async with bench.pool.acquire() as connection:
            started = time.perf_counter()
            products, stock, moves, totals = _rows(bench, body)
            ordered = sorted(totals)
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "products", schema_name="stock", columns=PRODUCT_COLUMNS, records=products
                )
                await connection.copy_records_to_table(
                    "current_stock",
                    schema_name="stock",
                    columns=("product_id", "store_id", "quantity", "updated_at"),
                    records=stock,
                )
                await connection.copy_records_to_table(
                    "inventory_transactions",
                    schema_name="stock",
                    columns=TRANSACTION_COLUMNS,
                    records=moves,
                )
                await connection.execute(STOCK_UPDATE_SQL, ordered, [totals[p] for p in ordered])
            timings.append((time.perf_counter() - started) * 1000)
        records += len(body["transactions"]) + len(body["products"])
    return Stats("baseline raw asyncpg", timings, time.perf_counter() - started_all, records)


async def main(options: argparse.Namespace) -> int:
    statuses: Counter[str] = Counter()
    async with prepared(options, pool_size=2) as bench:
        sample = [pid for pid, _ in await bench.sample_products(options.sample)]

        def batches(count: int) -> list[dict[str, Any]]:
            return [
                make_batch(bench, sample, options.batch_transactions, options.batch_products)
                for _ in range(count)
            ]

        await through_api(bench, batches(1), Counter())
        await baseline(bench, batches(1))
        server, client_rtt = await through_api(bench, batches(options.batches), statuses)
        base = await baseline(bench, batches(options.batches))
    size = options.batch_transactions + options.batch_products
    report(
        f"sync: {options.batches} batches of {size:,} records"
        f" ({options.batch_transactions} transactions + {options.batch_products} products),"
        f" {options.products:,}-product store",
        [server, client_rtt, base],
        ratio=(server, base),
        throughput_unit="records/s",
    )
    console.print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    ok = verdict(f"sync of {size:,} records, slowest batch server-side", server.p(100), TARGET_MS)
    return 0 if ok else 1


def options_parser() -> argparse.ArgumentParser:
    p = parser(__doc__.splitlines()[0] if __doc__ else "sync batch")
    p.add_argument("--batches", type=positive, default=5, help="measured batches per series")
    p.add_argument("--batch-transactions", type=int, default=900, help="transactions per batch")
    p.add_argument("--batch-products", type=int, default=100, help="new products per batch")
    p.add_argument("--sample", type=positive, default=5000, help="products the transactions touch")
    return p


if __name__ == "__main__":
    run(main, options_parser().parse_args())
