"""A new device pulls the 1M-product store: the snapshot bootstrap vs the paged change feed.

Series, one after the other against the same store and server, end to end in rows/s:

- `GET /api/v1/sync/snapshot` with `Accept-Encoding: gzip` (the client inflates the body and
  parses every NDJSON line), and the same without gzip;
- `GET /api/v1/sync/changes` from the start, pages of `--page` rows, every page parsed,
  stopped after `--feed-rows` rows (the whole store takes minutes this way);
- baseline: raw asyncpg reading the same rows (categories, products with stock, stock rows
  with safety stock) in one REPEATABLE READ transaction through a server-side cursor,
  decoded into records, no JSON and no HTTP.

For each: rows, seconds, rows/s, bytes on the wire (the HTTP body as received; compressed
where it is), and the CPU the server process used (user + system, per 1,000 rows).
Target: the gzip bootstrap at >= 30,000 rows/s.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from dataclasses import dataclass
from typing import Any

import asyncpg
from rich.table import Table

from common import API, Bench, console, parser, positive, prepared, process_tree_cpu_s, run

TARGET_ROWS_S = 30_000
TIMEOUT_S = 600.0
FETCH = 2000
BASELINE_QUERIES = (
    "SELECT c.id, c.store_id, c.name, c.created_at, c.updated_at, c.deleted_at"
    " FROM stock.categories c WHERE c.store_id = $1",
    "SELECT p.id, p.store_id, p.barcode, p.name, p.category_id, p.unit_price, p.safety_stock,"
    " coalesce(s.quantity, 0) AS stock, p.created_at, p.updated_at, p.deleted_at"
    " FROM stock.products p LEFT JOIN stock.current_stock s ON s.product_id = p.id"
    " WHERE p.store_id = $1",
    "SELECT s.product_id, s.store_id, s.quantity, p.safety_stock, s.updated_at"
    " FROM stock.current_stock s JOIN stock.products p ON p.id = s.product_id"
    " WHERE s.store_id = $1",
)


@dataclass
class Pull:
    """One measured series."""

    label: str
    rows: int
    seconds: float
    wire_bytes: int | None = None
    body_bytes: int | None = None
    server_cpu_s: float | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


class Lines:
    """Splits a byte stream into lines and parses each as JSON."""

    def __init__(self) -> None:
        self.pending = b""
        self.rows = 0
        self.body_bytes = 0
        self.end: dict[str, Any] | None = None

    def feed(self, data: bytes) -> None:
        self.body_bytes += len(data)
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            item = json.loads(line)
            if item["kind"] == "end":
                self.end = item
            else:
                self.rows += 1


def _server_cpu(bench: Bench) -> float | None:
    return process_tree_cpu_s(bench.server_pid)


def _cpu_since(bench: Bench, before: float | None) -> float | None:
    now = _server_cpu(bench)
    return None if before is None or now is None else now - before


async def bootstrap(bench: Bench, gzip: bool) -> Pull:
    """The whole snapshot over HTTP, inflated (when gzip) and parsed line by line."""
    encoding = "gzip" if gzip else "identity"
    inflate = zlib.decompressobj(wbits=31) if gzip else None
    lines = Lines()
    async with bench.client(1) as client:
        cpu, started = _server_cpu(bench), time.perf_counter()
        async with client.stream(
            "GET",
            f"{API}/sync/snapshot",
            params={"store_id": str(bench.store_id)},
            headers={"Accept-Encoding": encoding},
            timeout=TIMEOUT_S,
        ) as response:
            response.raise_for_status()
            assert response.headers.get("content-encoding", "identity") == encoding
            async for raw in response.aiter_raw():
                lines.feed(inflate.decompress(raw) if inflate else raw)
            wire = response.num_bytes_downloaded
        seconds = time.perf_counter() - started
    if lines.end is None or lines.end["rows"] != lines.rows or lines.pending:
        raise RuntimeError(f"the snapshot was cut off after {lines.rows:,} rows")
    label = f"ensemble GET /sync/snapshot ({'gzip' if gzip else 'uncompressed'})"
    return Pull(label, lines.rows, seconds, wire, lines.body_bytes, _cpu_since(bench, cpu))


async def feed(bench: Bench, page: int, max_rows: int) -> Pull:
    """`GET /sync/changes` from the start, `page` rows a request, until `max_rows` rows."""
    kinds = ("categories", "products", "transactions", "stock")
    rows = wire = 0
    cursor: str | None = None
    async with bench.client(1) as client:
        cpu, started = _server_cpu(bench), time.perf_counter()
        while rows < max_rows:
            params: dict[str, Any] = {"store_id": str(bench.store_id), "limit": page}
            if cursor is not None:
                params["cursor"] = cursor
            response = await client.get(f"{API}/sync/changes", params=params, timeout=TIMEOUT_S)
            response.raise_for_status()
            body = json.loads(response.content)
            rows += sum(len(body[kind]) for kind in kinds)
            wire += response.num_bytes_downloaded
            cursor = body["cursor"]
            if not body["has_more"]:
                break
        seconds = time.perf_counter() - started
    label = f"ensemble GET /sync/changes (pages of {page:,})"
    return Pull(label, rows, seconds, wire, wire, _cpu_since(bench, cpu))


async def baseline(bench: Bench) -> Pull:
    """The same rows straight from PostgreSQL through raw asyncpg."""
    connection: asyncpg.Connection = await asyncpg.connect(bench.dsn)
    try:
        rows = 0
        started = time.perf_counter()
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            for query in BASELINE_QUERIES:
                cursor = await connection.cursor(query, bench.store_id)
                while fetched := await cursor.fetch(FETCH):
                    rows += len(fetched)
        seconds = time.perf_counter() - started
    finally:
        await connection.close()
    return Pull("baseline raw asyncpg (server-side cursor)", rows, seconds)


def _optional(value: float | None, template: str) -> str:
    return "-" if value is None else template.format(value)


def report(title: str, pulls: list[Pull]) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("series", "rows", "s", "rows/s", "wire MB", "B/row", "server CPU s"):
        table.add_column(column, justify="left" if column == "series" else "right")
    table.add_column("CPU ms / 1k rows", justify="right")
    for pull in pulls:
        cpu = pull.server_cpu_s
        table.add_row(
            pull.label,
            f"{pull.rows:,}",
            f"{pull.seconds:.1f}",
            f"{pull.rate:,.0f}",
            _optional(None if pull.wire_bytes is None else pull.wire_bytes / 1e6, "{:.1f}"),
            _optional(None if pull.wire_bytes is None else pull.wire_bytes / pull.rows, "{:.0f}"),
            _optional(cpu, "{:.1f}"),
            _optional(None if cpu is None else cpu / pull.rows * 1e6, "{:.1f}"),
        )
    console.print(table)
    for pull in pulls:
        if pull.body_bytes and pull.wire_bytes and pull.body_bytes != pull.wire_bytes:
            ratio = pull.body_bytes / pull.wire_bytes
            console.print(
                f"{pull.label}: {pull.body_bytes / 1e6:,.1f} MB of NDJSON"
                f" ({pull.body_bytes / pull.rows:.0f} B/row), {ratio:.1f}x compressed"
            )


async def main(options: argparse.Namespace) -> int:
    async with prepared(options, pool_size=1) as bench:
        base = await baseline(bench)  # first: it also brings the store into the buffer cache
        pulls = [
            await bootstrap(bench, gzip=True),
            await bootstrap(bench, gzip=False),
            await feed(bench, options.page, options.feed_rows),
            base,
        ]
    report(f"sync pull: a new device reads a {options.products:,}-product store", pulls)
    rate = pulls[0].rate
    ok = rate >= TARGET_ROWS_S
    mark = "[green]PASS[/]" if ok else "[red]MISS[/]"
    console.print(f"{mark} gzip bootstrap: {rate:,.0f} rows/s (target >= {TARGET_ROWS_S:,})")
    return 0 if ok else 1


def _parser() -> argparse.ArgumentParser:
    p = parser(__doc__.splitlines()[0] if __doc__ else "sync pull")
    p.add_argument("--page", type=positive, default=1000, help="change-feed page size (<= 1000)")
    p.add_argument(
        "--feed-rows",
        type=positive,
        default=200_000,
        help="stop the change-feed series after this many rows",
    )
    return p


if __name__ == "__main__":
    run(main, _parser().parse_args())
