"""Shared benchmark setup: database, seeded store, admin token, a real server, the report.

Every script does the same preparation through `prepared(options)`:

1. a PostgreSQL: `DATABASE_URL` if set, else an embedded server in `<data-dir>/postgres`
   (default `./.ensemble/bench`, apart from the `ensemble serve` development data);
2. migrations to head;
3. a store seeded once with `--products` products (`ensemble.apps.stock.cli.seed`, COPY in
   chunks, with a progress bar), remembered in the table `bench.seeded` so re-runs skip it;
4. an admin user (created once) and a real `ensemble serve --app stock` subprocess on a free
   port, logged in over HTTP to get a bearer token.

On exit the server subprocess is stopped, and so is the embedded PostgreSQL if this process
started it (unless `--keep-db`). The seeded data stays on disk for the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ensemble.apps.stock import service
from ensemble.apps.stock.cli import SeedPlan, barcode_for, seed
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database
from ensemble.kernel.embedded import EmbeddedPostgres, EmbeddedRedis
from ensemble.kernel.identity.service import find_account
from lean_http import LeanClient

console = Console(width=None if sys.stdout.isatty() else 120)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / ".ensemble" / "bench"
BENCH_DATABASE = "ensemble_bench"
BENCH_SECRET = "bench-secret-key-not-for-production-0123456789abcdef"
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-password-0123"
API = "/api/v1"
HEALTH_DEADLINE_S = 90.0


# Options


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def parser(description: str, *, products: bool = True) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark shares (`--products` only for
    those that use the seeded store)."""
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    if products:
        p.add_argument(
            "--products",
            type=positive,
            default=1_000_000,
            help="products in the benchmark store (seeded once, then reused)",
        )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where the embedded PostgreSQL keeps its data (ignored with DATABASE_URL)",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed for the workload")
    p.add_argument(
        "--log-level",
        default="WARNING",
        help="server LOG_LEVEL (INFO writes one access-log line per request)",
    )
    p.add_argument(
        "--workers", type=positive, default=1, help="HTTP server processes (`serve --workers`)"
    )
    p.add_argument(
        "--keep-db",
        action="store_true",
        help="leave the embedded PostgreSQL running afterwards (faster re-runs)",
    )
    return p


def load_parser(
    doc: str | None, *, what: str, concurrency: int, sample: bool = False
) -> argparse.ArgumentParser:
    """The shared options plus those of a request-load benchmark (requests, clients, warm-up)."""
    p = parser(doc.splitlines()[0] if doc else what)
    p.add_argument("--requests", type=positive, default=2000, help=f"measured {what} per series")
    p.add_argument("--concurrency", type=positive, default=concurrency, help="concurrent clients")
    p.add_argument("--warmup", type=int, default=200, help=f"unmeasured {what} first")
    if sample:
        p.add_argument("--sample", type=positive, default=5000, help="products the load picks from")
    return p


# Infrastructure


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def raw_dsn(url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy `postgresql+asyncpg://` URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@dataclass
class Bench:
    """Everything a benchmark needs: where to send requests and how to reach the database."""

    url: str
    store_id: uuid.UUID
    products: int
    base_url: str
    token: str
    rng: random.Random
    pool: asyncpg.Pool
    data_dir: Path
    server_pid: int

    @property
    def dsn(self) -> str:
        return raw_dsn(self.url)

    def server_cpu_s(self) -> float | None:
        """CPU seconds (user + system) the server process has used so far (Linux only)."""
        return process_cpu_s(self.server_pid)

    def server_cpu_ms_per(self, since: float | None, count: int) -> float | None:
        """Server CPU ms per operation since the `server_cpu_s()` reading `since`."""
        now = self.server_cpu_s()
        if since is None or now is None or not count:
            return None
        return (now - since) / count * 1000

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def random_barcode(self) -> str:
        return barcode_for(0, self.rng.randrange(self.products))

    def lean_client(self, concurrency: int) -> LeanClient:
        """A keep-alive client of a few µs per request (`lean_http`), so that on 2 cores the
        load generator leaves the CPU to the server it measures."""
        return LeanClient(self.base_url, self.headers, concurrency)

    def client(self, concurrency: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        return httpx.AsyncClient(
            base_url=self.base_url, headers=self.headers, limits=limits, timeout=30.0
        )

    async def sample_products(self, count: int) -> list[tuple[uuid.UUID, int]]:
        """`count` random products of the store (id, current stock), found by barcode."""
        barcodes = list({self.random_barcode() for _ in range(count)})
        rows = await self.pool.fetch(
            "SELECT p.id, coalesce(s.quantity, 0) AS quantity FROM stock.products p"
            " LEFT JOIN stock.current_stock s ON s.product_id = p.id"
            " WHERE p.store_id = $1 AND p.barcode = ANY($2::text[]) AND p.deleted_at IS NULL",
            self.store_id,
            barcodes,
        )
        return [(row["id"], row["quantity"]) for row in rows]


def start_postgres(
    data_dir: Path, database: str = BENCH_DATABASE
) -> tuple[str, EmbeddedPostgres | None]:
    """`DATABASE_URL` if set, else `database` on the embedded server in `<data-dir>/postgres`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    check_machine()
    configured = os.environ.get("DATABASE_URL")
    if configured:
        console.print(f"[dim]using DATABASE_URL {configured.split('@')[-1]}[/]")
        return configured, None
    embedded = EmbeddedPostgres(data_dir / "postgres", database=database)
    with console.status(f"starting embedded PostgreSQL in {data_dir / 'postgres'}"):
        url = embedded.start()
    console.print(
        f"[dim]embedded PostgreSQL {'started' if embedded.started_here else 'joined'}"
        f" at {url.split('@')[-1]}[/]"
    )
    return url, embedded


def start_redis(data_dir: Path) -> tuple[str, EmbeddedRedis | None]:
    """`REDIS_URL` if set, else an embedded Redis in `<data-dir>/redis` (started or joined)."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        console.print(f"[dim]using REDIS_URL {configured.split('@')[-1]}[/]")
        return configured, None
    embedded = EmbeddedRedis(data_dir / "redis")
    url = embedded.start()
    console.print(
        f"[dim]embedded Redis {'started' if embedded.started_here else 'joined'} at {url}[/]"
    )
    return url, embedded


def stop_embedded(*servers: EmbeddedPostgres | EmbeddedRedis | None, keep: bool) -> None:
    """Stop the embedded servers a bench started (None: a URL was given), unless `keep`."""
    for server in servers:
        if server is not None and not keep:
            server.stop()


@dataclass
class Databases:
    """A migrated database seen two ways: through the kernel and through raw asyncpg."""

    url: str
    database: Database
    pool: asyncpg.Pool


@contextlib.asynccontextmanager
async def migrated_database(
    options: argparse.Namespace, connections: int
) -> AsyncIterator[Databases]:
    """Start (or join) the bench PostgreSQL, migrate, open both pools; close all at the end
    (and stop the embedded server unless `--keep-db`)."""
    url, embedded = start_postgres(options.data_dir.resolve())
    database = Database(url, pool_size=connections, max_overflow=0)
    pool: asyncpg.Pool | None = None
    try:
        await migrate(database.engine)
        pool = await asyncpg.create_pool(raw_dsn(url), min_size=connections, max_size=connections)
        assert pool is not None
        yield Databases(url, database, pool)
    finally:
        if pool is not None:
            await pool.close()
        await database.dispose()
        if embedded is not None and not options.keep_db:
            embedded.stop()


_MARKER = """
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.seeded (
    products bigint PRIMARY KEY,
    store_id uuid NOT NULL,
    seeded_at timestamptz NOT NULL DEFAULT now()
);
"""


async def _seeded_store(connection: asyncpg.Connection, products: int) -> uuid.UUID | None:
    await connection.execute(_MARKER)
    store_id: uuid.UUID | None = await connection.fetchval(
        "SELECT store_id FROM bench.seeded WHERE products = $1", products
    )
    if store_id is None or products == 0:
        return store_id
    last = await connection.fetchval(
        "SELECT 1 FROM stock.products WHERE store_id = $1 AND barcode = $2",
        store_id,
        barcode_for(0, products - 1),
    )
    return store_id if last else None


async def ensure_store(url: str, products: int) -> uuid.UUID:
    """The store holding `products` products, seeding it the first time (minutes for 1M)."""
    connection = await asyncpg.connect(raw_dsn(url))
    try:
        store_id = await _seeded_store(connection, products)
        if store_id is not None:
            console.print(f"[dim]reusing seeded store {store_id} ({products:,} products)[/]")
            return store_id
        started = time.perf_counter()
        columns = (
            TextColumn("seeding"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("products", total=products)
            [store_id] = await seed(
                connection,
                SeedPlan(stores=1, products_per_store=products),
                lambda n: bar.advance(task, n),
            )
        with console.status("VACUUM ANALYZE after the bulk load"):
            await connection.execute(
                "VACUUM (ANALYZE) stock.products, stock.current_stock, stock.inventory_transactions"
            )
        await connection.execute(
            "INSERT INTO bench.seeded (products, store_id) VALUES ($1, $2)"
            " ON CONFLICT (products) DO UPDATE SET store_id = excluded.store_id, seeded_at = now()",
            products,
            store_id,
        )
        console.print(
            f"seeded store {store_id}: {products:,} products"
            f" in {time.perf_counter() - started:.1f} s"
        )
        return store_id
    finally:
        await connection.close()


async def ensure_admin(url: str) -> None:
    database = Database(url, pool_size=1, max_overflow=0)
    try:
        await migrate(database.engine)
        async with database.unit_of_work() as session:
            if await find_account(session, "stock", ADMIN_EMAIL) is None:
                await service.create_admin(
                    session, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="Bench admin"
                )
    finally:
        await database.dispose()


@dataclass
class Server:
    """A real `ensemble serve --app <app>` subprocess."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    _log: Any = field(repr=False)

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGINT a child process if it still runs; kill it if it outlives 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _serve_command(port: int, app: str) -> list[str]:
    beside = Path(sys.executable).with_name("ensemble")
    executable = str(beside) if beside.exists() else shutil.which("ensemble")
    prefix = (
        [executable]
        if executable
        else [sys.executable, "-c", "from ensemble.cli import main; main()"]
    )
    return [*prefix, "serve", "--app", app, "--host", "127.0.0.1", "--port", str(port)]


def spawn_server(
    url: str,
    data_dir: Path,
    log_level: str,
    app: str = "stock",
    env: dict[str, str] | None = None,
    *,
    args: Sequence[str] = (),
    log_name: str = "server.log",
) -> Server:
    """Start `ensemble serve --app <app> [args]` (its output goes to `<data-dir>/<log_name>`)."""
    port = free_port()
    log_path = data_dir / log_name
    log = log_path.open("wb")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": BENCH_SECRET,
        "LOG_LEVEL": log_level,
        "DATA_DIR": str(data_dir / "server"),
        "SIGNUP_MAX_PER_IP": "1000000",  # every bench user signs up from this one address
        **(env or {}),
    }
    command = [*_serve_command(port, app), *args]
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
    )
    return Server(process, f"http://127.0.0.1:{port}", log_path, log)


async def start_server(
    url: str, data_dir: Path, log_level: str, app: str = "stock", env: dict[str, str] | None = None
) -> Server:
    """A running server: spawned, then polled on /health until a deadline."""
    return await until_healthy(spawn_server(url, data_dir, log_level, app, env))


async def until_healthy(server: Server, name: str = "the server") -> Server:
    """`server` once /health answers 200; stopped and raised if it exits or the deadline passes."""
    process, log_path = server.process, server.log_path
    deadline = time.monotonic() + HEALTH_DEADLINE_S
    with console.status(f"waiting for {name} at {server.base_url}"):
        async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
            while True:
                if process.poll() is not None:
                    server.stop()
                    raise RuntimeError(f"the server exited early; see {log_path}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health")).status_code == 200:
                        return server
                if time.monotonic() > deadline:
                    server.stop()
                    raise RuntimeError(
                        f"no /health within {HEALTH_DEADLINE_S:.0f} s; see {log_path}"
                    )
                await asyncio.sleep(0.1)


async def login(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        response = await client.post(
            f"{API}/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token


@contextlib.asynccontextmanager
async def prepared(options: argparse.Namespace, pool_size: int = 8) -> AsyncIterator[Bench]:
    """Database, migrated schema, seeded store, admin, running server and token."""
    data_dir: Path = options.data_dir.resolve()
    url, embedded = start_postgres(data_dir)
    server: Server | None = None
    pool: asyncpg.Pool | None = None
    try:
        await ensure_admin(url)
        store_id = await ensure_store(url, options.products)
        server = await start_server(
            url, data_dir, options.log_level, env={"WEB_WORKERS": str(options.workers)}
        )
        token = await login(server.base_url)
        pool = await asyncpg.create_pool(raw_dsn(url), min_size=pool_size, max_size=pool_size)
        assert pool is not None
        yield Bench(
            url=url,
            store_id=store_id,
            products=options.products,
            base_url=server.base_url,
            token=token,
            rng=random.Random(options.seed),
            pool=pool,
            data_dir=data_dir,
            server_pid=server.process.pid,
        )
    finally:
        if pool is not None:
            await pool.close()
        if server is not None:
            server.stop()
        if embedded is not None and not options.keep_db:
            embedded.stop()


# Measuring


def process_cpu_s(pid: int) -> float | None:
    """utime + stime of a process in seconds, from /proc (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu_s(pid: int) -> float | None:
    """CPU seconds of a process and all its descendants (a `serve --workers N` and its
    server processes), from /proc (None where there is no /proc)."""
    own = process_cpu_s(pid)
    if own is None:
        return None
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return own + sum(process_tree_cpu_s(int(child)) or 0.0 for child in children)


def check_machine() -> None:
    """Say how busy the machine already is: other work inflates every latency here."""
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    console.print(f"[dim]{cores} cores, 1-minute load average {load:.2f} before the run[/]")
    if load > 0.5 * cores:
        console.print(
            "[yellow]the machine is already busy: the client, the server and PostgreSQL share"
            " these cores with that load, so expect higher and noisier latencies[/]"
        )


class HasHeaders(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...


def server_ms(response: HasHeaders) -> float:
    """The server-side time of a response, from its `Server-Timing: app;dur=<ms>` header."""
    header = response.headers.get("server-timing", "")
    for part in header.split(";"):
        if part.strip().startswith("dur="):
            return float(part.strip()[4:])
    raise ValueError(f"no Server-Timing duration in {header!r}")


async def run_concurrently(
    total: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> float:
    """Call `one(i)` for i in range(total) from `concurrency` workers; the wall time in s."""
    counter = iter(range(total))

    async def worker() -> None:
        for index in counter:
            await one(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def run_on_server(
    total: int, concurrency: int, one: Callable[[int], Awaitable[None]], server_pid: int
) -> tuple[float, float]:
    """`run_concurrently`, and the server's CPU meanwhile: (wall s, CPU ms per call)."""
    cpu_before = process_tree_cpu_s(server_pid) or 0.0
    wall = await run_concurrently(total, concurrency, one)
    cpu_ms = ((process_tree_cpu_s(server_pid) or 0.0) - cpu_before) / total * 1000
    return wall, cpu_ms


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100) of `values`."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Stats:
    """Latencies in ms of one measured series, and its throughput."""

    label: str
    samples: list[float]
    wall_s: float | None = None
    count: int | None = None
    cpu_ms: float | None = None  # server process CPU per operation, when measured

    def p(self, value: float) -> float:
        return percentile(self.samples, value)

    @property
    def throughput(self) -> float | None:
        if not self.wall_s:
            return None
        return (self.count if self.count is not None else len(self.samples)) / self.wall_s


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _ratio(ours: float | None, base: float | None) -> str:
    if ours is None or base is None or base == 0 or math.isnan(ours) or math.isnan(base):
        return "-"
    value = ours / base
    return f"{value:.0f}x" if value >= 10 else f"{value:.1f}x" if value >= 1 else f"{value:.2f}x"


POINTS = (50.0, 95.0, 99.0, 100.0)


def report(
    title: str,
    series: Sequence[Stats],
    ratio: tuple[Stats, Stats] | None = None,
    throughput_unit: str = "req/s",
) -> None:
    """Print p50/p95/p99/max and throughput of each series, then `ours / baseline` ratios."""
    table = Table(title=title, title_justify="left")
    table.add_column("series")
    table.add_column("n", justify="right")
    for point in POINTS:
        table.add_column("max ms" if point == 100 else f"p{point:g} ms", justify="right")
    table.add_column(throughput_unit, justify="right")
    for stats in series:
        rate = stats.throughput
        table.add_row(
            stats.label,
            str(len(stats.samples)),
            *(_ms(stats.p(point)) for point in POINTS),
            "-" if rate is None else f"{rate:,.0f}",
        )
    if ratio is not None:
        ours, base = ratio
        table.add_row(
            f"ratio {ours.label.removeprefix('ensemble ')}"
            f" / {base.label.removeprefix('baseline ')}",
            "",
            *(_ratio(ours.p(point), base.p(point)) for point in POINTS),
            _ratio(ours.throughput, base.throughput),
            style="bold",
        )
    console.print(table)
    for stats in series:
        if stats.cpu_ms is not None:
            console.print(
                f"{stats.label}: the server process used {stats.cpu_ms:.2f} ms of CPU per"
                f" {'batch' if throughput_unit == 'records/s' else 'request'} (user + system)"
            )


def verdict(label: str, measured_ms: float, target_ms: float) -> bool:
    ok = measured_ms < target_ms
    mark = "[green]PASS[/]" if ok else "[red]MISS[/]"
    console.print(f"{mark} {label}: {measured_ms:.2f} ms (target < {target_ms:g} ms)")
    return ok


def run(main: Callable[[argparse.Namespace], Awaitable[int]], options: argparse.Namespace) -> None:
    """Run an async benchmark `main` with uvloop when available; exit with its status."""
    try:
        import uvloop

        runner: Callable[[Awaitable[int]], int] = uvloop.run  # type: ignore[assignment]
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run  # type: ignore[assignment]
    try:
        sys.exit(runner(main(options)))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)


async def _prepare_only(options: argparse.Namespace) -> int:
    async with prepared(options, pool_size=1) as bench:
        console.print(
            f"ready: store {bench.store_id} with {bench.products:,} products;"
            f" a server answered at {bench.base_url} (now stopped)"
        )
    return 0


if __name__ == "__main__":
    run(_prepare_only, parser("Prepare the benchmark database (seed once) and exit.").parse_args())


# Casino-Club

CASINO_PASSWORD = "bench password 1234"


async def casino_members(client: LeanClient, count: int, concurrency: int) -> list[str]:
    """Sign up `count` Casino-Club members with the forever invite code; their access tokens."""
    tokens: list[str] = [""] * count

    async def one(index: int) -> None:
        body = {
            "invite_code": "5858",
            "nickname": f"b{uuid.uuid4().hex[:12]}",
            "password": CASINO_PASSWORD,
        }
        response = await client.request("POST", "/api/auth/signup", body)
        if response.status_code != 201:
            raise RuntimeError(f"sign-up: {response.status_code} {response.text}")
        tokens[index] = response.json()["access_token"]

    await run_concurrently(count, concurrency, one)
    return tokens
