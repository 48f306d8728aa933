"""ensemble against the hand-written floor: CPU per request of the barcode lookup and the move.

Three series per endpoint, on the same database in the same run, taking turns:
- **ensemble**: `ensemble serve --app stock` (one HTTP process, background roles beside it);
- **floor**: `bench/floor_app.py`, the same endpoint written the obvious way (FastAPI + asyncpg
  pool + PyJWT + Pydantic response model) under uvicorn, verifying the same token;
- **raw asyncpg**: the endpoint's SQL from an asyncpg pool, no HTTP (the database's share).

For each it prints p50/p99, throughput and the server's CPU per request (user + system of the
server process, from /proc), then ensemble's CPU / the floor's (target ≤ 1.0×). Then it scales:
the lookup at `--scale-clients` on one ensemble HTTP process and on `--workers 2`
(`serve --no-background`, CPU of every server process), target ≥ 1.6× the throughput.
The load comes from `lean_http.LeanClient`, so the client leaves the cores to the servers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from common import (
    API,
    BENCH_SECRET,
    Bench,
    Server,
    Stats,
    console,
    free_port,
    load_parser,
    prepared,
    process_tree_cpu_s,
    report,
    run,
    run_concurrently,
    spawn_server,
    until_healthy,
)
from floor_app import LOOKUP_SQL
from lean_http import LeanClient, LeanResponse
from stock_moves import InsufficientStock, _baseline_one

BENCH_DIR = Path(__file__).resolve().parent
Request = Callable[[LeanClient, int], Awaitable[LeanResponse]]


@dataclass(frozen=True)
class Target:
    """An HTTP server to load: where it answers and the process whose tree does the work."""

    label: str
    base_url: str
    pid: int


def spawn_floor(bench: Bench) -> Server:
    """`uvicorn floor_app:app` on a free port, as a deployment of it would run."""
    port = free_port()
    log_path = bench.data_dir / "floor.log"
    env = {**os.environ, "FLOOR_DSN": bench.dsn, "FLOOR_SECRET": BENCH_SECRET}
    command = [sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(BENCH_DIR)]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    log = log_path.open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Server(process, f"http://127.0.0.1:{port}", log_path, log)


@asynccontextmanager
async def floor_server(bench: Bench) -> AsyncIterator[Target]:
    server = await until_healthy(spawn_floor(bench), "the floor server")
    try:
        yield Target("floor (FastAPI + asyncpg)", server.base_url, server.process.pid)
    finally:
        server.stop()


async def load(target: Target, token: str, request: Request, total: int, clients: int) -> Stats:
    """`total` requests from `clients` connections; latency, throughput, server CPU each."""
    timings: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with LeanClient(target.base_url, headers, clients) as client:

        async def one(index: int) -> None:
            started = time.perf_counter()
            response = await request(client, index)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code not in (200, 201, 409):
                raise RuntimeError(f"{target.label}: {response.status_code} {response.text}")

        cpu_before = process_tree_cpu_s(target.pid) or 0.0
        wall = await run_concurrently(total, clients, one)
        cpu_ms = ((process_tree_cpu_s(target.pid) or 0.0) - cpu_before) / total * 1000
    return Stats(target.label, timings, wall, cpu_ms=cpu_ms)


def lookups(bench: Bench, total: int) -> Request:
    prefix = f"{API}/stores/{bench.store_id}/products/barcode/"
    barcodes = [bench.random_barcode() for _ in range(total)]

    async def request(client: LeanClient, index: int) -> LeanResponse:
        return await client.get(prefix + barcodes[index % total])

    return request


def moves(bench: Bench, products: list[uuid.UUID]) -> Request:
    path = f"{API}/stores/{bench.store_id}/inventory/transactions"

    async def request(client: LeanClient, index: int) -> LeanResponse:
        body = {"product_id": str(products[index % len(products)]), "type": "IN", "quantity": 1}
        return await client.post(path, body)

    return request


async def raw_lookups(bench: Bench, total: int, clients: int) -> Stats:
    barcodes = [bench.random_barcode() for _ in range(total)]
    timings: list[float] = []

    async def one(index: int) -> None:
        started = time.perf_counter()
        await bench.pool.fetchrow(LOOKUP_SQL, bench.store_id, barcodes[index])
        timings.append((time.perf_counter() - started) * 1000)

    return Stats("raw asyncpg (no HTTP)", timings, await run_concurrently(total, clients, one))


async def raw_moves(bench: Bench, products: list[uuid.UUID], total: int, clients: int) -> Stats:
    timings: list[float] = []

    async def one(index: int) -> None:
        product = products[index % len(products)]
        async with bench.pool.acquire() as connection:
            started = time.perf_counter()
            try:
                await _baseline_one(connection, bench.store_id, product, "IN", 1)
            except InsufficientStock:  # an IN always applies
                raise
            timings.append((time.perf_counter() - started) * 1000)

    return Stats("raw asyncpg (no HTTP)", timings, await run_concurrently(total, clients, one))


async def compare(
    title: str,
    targets: list[Target],
    token: str,
    request: Request,
    raw: Callable[[], Awaitable[Stats]],
    options: argparse.Namespace,
    clients: int,
) -> None:
    """Warm every series, then measure them in turns; report ensemble's CPU / the floor's."""
    for target in targets:
        await load(target, token, request, options.warmup, clients)
    series: dict[str, list[Stats]] = {t.label: [] for t in targets}
    per_turn = options.requests // options.turns
    for _ in range(options.turns):
        for target in targets:
            series[target.label].append(await load(target, token, request, per_turn, clients))
    merged = [merge(runs) for runs in series.values()]
    report(
        f"{title}: {per_turn * options.turns:,} requests, {clients} clients", [*merged, await raw()]
    )
    ours, floor = merged
    if ours.cpu_ms and floor.cpu_ms:
        console.print(
            f"[bold]{title}: ensemble CPU per request / floor's = {ours.cpu_ms / floor.cpu_ms:.2f}x"
            f"[/] (target ≤ 1.0x), throughput {ours.throughput or 0:,.0f} vs"
            f" {floor.throughput or 0:,.0f} req/s"
        )


def merge(runs: list[Stats]) -> Stats:
    """One series of several turns: all samples, summed wall time, mean CPU per request."""
    samples = [s for run_ in runs for s in run_.samples]
    wall = sum(r.wall_s or 0.0 for r in runs)
    cpu = [r.cpu_ms for r in runs if r.cpu_ms is not None]
    return Stats(runs[0].label, samples, wall, cpu_ms=sum(cpu) / len(cpu) if cpu else None)


async def scaling(bench: Bench, token: str, options: argparse.Namespace) -> None:
    """The lookup on one HTTP process, then on `--workers 2`: throughput and CPU of each."""
    results = []
    for workers in (1, 2):
        server = spawn_server(
            bench.url, bench.data_dir, options.log_level, env={"WEB_WORKERS": str(workers)},
            args=["--no-background"], log_name=f"server-workers-{workers}.log",
        )  # fmt: skip
        try:
            await until_healthy(server, f"ensemble --workers {workers}")
            target = Target(f"ensemble --workers {workers}", server.base_url, server.process.pid)
            request = lookups(bench, options.requests)
            await load(target, token, request, options.warmup * workers, options.scale_clients)
            results.append(
                await load(target, token, request, options.requests, options.scale_clients)
            )
        finally:
            server.stop()
    report(f"barcode lookup scaling: {options.scale_clients} clients", results)
    one, two = results
    gain = (two.throughput or 0) / (one.throughput or 1)
    console.print(f"[bold]--workers 2 / --workers 1 throughput = {gain:.2f}x[/] (target ≥ 1.6x)")


async def main(options: argparse.Namespace) -> int:
    async with prepared(options, pool_size=max(options.move_clients, 4)) as bench:
        ensemble = Target("ensemble (serve --app stock)", bench.base_url, bench.server_pid)
        sample = await bench.sample_products(options.sample)
        products = [pid for pid, _ in sample]
        async with floor_server(bench) as floor:
            targets = [ensemble, floor]
            await compare(
                "barcode lookup", targets, bench.token, lookups(bench, options.requests),
                lambda: raw_lookups(bench, options.requests, options.lookup_clients),
                options, options.lookup_clients,
            )  # fmt: skip
            await compare(
                "stock move (IN)", targets, bench.token, moves(bench, products),
                lambda: raw_moves(bench, products, options.requests, options.move_clients),
                options, options.move_clients,
            )  # fmt: skip
        if options.scale_clients:
            await scaling(bench, bench.token, options)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = load_parser(__doc__, what="requests", concurrency=4, sample=True)
    p.set_defaults(requests=4000, warmup=300)
    p.add_argument("--lookup-clients", type=int, default=4, help="clients of the lookup series")
    p.add_argument("--move-clients", type=int, default=8, help="clients of the move series")
    p.add_argument("--turns", type=int, default=4, help="turns the series take in each comparison")
    p.add_argument(
        "--scale-clients", type=int, default=16,
        help="clients of the --workers 1 vs 2 lookup series (0 skips it)",
    )  # fmt: skip
    return p


if __name__ == "__main__":
    run(main, _parser().parse_args())
