"""Casino-Club RFM: a full run over `--members` members and `--actions` actions (target
< 60 s at 1M/10M), then `--new-actions` more and an incremental run (target < 15 s), and one more
a day later (no new actions: members whose days left the window or crossed a recency cut).

Seeds the bench PostgreSQL once per size with `ensemble casino seed`'s loader (COPY of
members and past client actions over `--days` days) plus fulfilled money purchases of a
`--payers` share of the members, and builds the members' daily figures from them in bulk
(`segments.rebuild_aggregates`, the same SQL the consumer adds one event with). Each run is
timed through the service (`segments.run_rfm`: SQLAlchemy, one statement per step) next to
the same statements sent by hand over raw asyncpg in a transaction rolled back (the floor:
no ORM, no session). The new actions are COPYed into `casino.actions` and added to the daily
figures with the consumer's statement, for all of them at once.
"""

from __future__ import annotations

import argparse
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg

from common import console, parser, positive, raw_dsn, run, start_postgres
from ensemble.apps.casino.cli import CHUNK, SCREENS, SeedPlan, seed
from ensemble.apps.casino.segments import repository
from ensemble.apps.casino.segments import service as segments
from ensemble.apps.casino.segments.domain import RfmRules
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.console import copy_rows
from ensemble.kernel.db import Database, id_at, new_id

TARGET_FULL_S = 60.0
TARGET_INCREMENTAL_S = 15.0
PACK_CENTS = (99, 499, 999)
T = TypeVar("T")


def positional(sql: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """`:name` parameters (not `::` casts) as asyncpg's `$n`, with their values in order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"(?<!:):([a-z_]+)\b", number, sql), [params[name] for name in names]


async def timed(label: str, work: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    with console.status(label):
        started = time.perf_counter()
        result = await work()
        seconds = time.perf_counter() - started
    console.print(f"{label}: {seconds:.2f} s")
    return result, seconds


async def by_hand(
    connection: asyncpg.Connection[asyncpg.Record], rules: RfmRules, now: datetime, last: Any
) -> None:
    """The run's statements over raw asyncpg in a transaction rolled back: a full run when
    `last` is None, else an incremental one since that day."""
    as_of = now.date()
    params = {"as_of": as_of, "window_start": rules.window_start(as_of), "now": now}
    transaction = connection.transaction()
    await transaction.start()
    try:
        if last is None:
            await connection.execute(repository.CLEAR_DIRTY)
        else:
            await connection.execute(repository.TARGETS_TABLE)
            targets = {
                "old_start": rules.window_start(last),
                "new_start": params["window_start"],
                "cuts": list(rules.recency_days),
                "old_as_of": last,
                "as_of": as_of,
            }
            sql, args = positional(repository.TARGETS, targets)
            await connection.execute(sql, *args)
        sql, args = positional(repository.score(rules, targeted=last is not None), params)
        await connection.fetchrow(sql, *args)
    finally:
        await transaction.rollback()


async def seed_payers(
    connection: asyncpg.Connection[asyncpg.Record], share: float, days: int, rng: random.Random
) -> int:
    """Fulfilled gem-pack purchases (1 to 3) of a `share` of the members, in the past days."""
    members = await connection.fetch("SELECT account_id FROM casino.users")
    now = datetime.now(UTC)
    rows = []
    for member in members:
        if rng.random() >= share:
            continue
        for _ in range(rng.randint(1, 3)):
            at = now - timedelta(seconds=rng.uniform(0, days * 86400))
            cents = rng.choice(PACK_CENTS)
            rows.append(
                (
                    new_id(),
                    member["account_id"],
                    "gems-100",
                    1,
                    uuid.uuid4().hex,
                    "fulfilled",
                    "USD",
                    cents,
                    cents,
                    '{"gems": 100}',
                    at,
                    at,
                    at,
                    at,
                )
            )
    columns = (
        "id",
        "user_id",
        "product_id",
        "quantity",
        "idempotency_key",
        "status",
        "price_currency",
        "unit_price",
        "amount",
        "contents",
        "created_at",
        "updated_at",
        "paid_at",
        "fulfilled_at",
    )
    for start in range(0, len(rows), CHUNK):
        await copy_rows(connection, "casino", "purchases", columns, rows[start : start + CHUNK])
    return len(rows)


async def new_actions(
    connection: asyncpg.Connection[asyncpg.Record], count: int, at: datetime, rng: random.Random
) -> None:
    """`count` client actions of random members in the hour before `at`, into `casino.actions` and a
    staging table the consumer's statement then adds to the daily figures."""
    members = [
        r["account_id"] for r in await connection.fetch("SELECT account_id FROM casino.users")
    ]
    await connection.execute(
        "CREATE TEMPORARY TABLE bench_new (LIKE casino.actions INCLUDING DEFAULTS)"
    )
    columns = ("id", "user_id", "action_type", "context", "created_at")
    for start in range(0, count, CHUNK):
        rows = []
        for _ in range(min(CHUNK, count - start)):
            instant = at - timedelta(seconds=rng.uniform(0, 3600))
            rows.append(
                (
                    id_at(instant),
                    rng.choice(members),
                    "PAGE_VIEW",
                    f'{{"screen": "{rng.choice(SCREENS)}"}}',
                    instant,
                )
            )
        await copy_rows(connection, "pg_temp", "bench_new", columns, rows)
    await connection.execute("INSERT INTO casino.actions SELECT * FROM bench_new")


async def main(options: argparse.Namespace) -> int:
    url, embedded = start_postgres(options.data_dir.resolve(), database="bench_casino_rfm")
    database = Database(url, pool_size=2)
    rules = segments.rules_of(CasinoSettings())
    rng = random.Random(options.seed)
    connection = await asyncpg.connect(raw_dsn(url))
    try:
        await migrate(database.engine)
        seeded = await connection.fetchval("SELECT count(*) FROM casino.users")
        if seeded != options.members:
            await connection.execute(
                "TRUNCATE casino.users, identity.accounts, ledger.accounts CASCADE"
            )
            plan = SeedPlan(options.members, options.actions, days=options.days)
            await timed(
                f"seed {options.members:,} members, {options.actions:,} actions",
                lambda: seed(connection, plan, lambda _: None),
            )
            payments, _ = await timed(
                "seed purchases", lambda: seed_payers(connection, options.payers, options.days, rng)
            )
            console.print(f"{payments:,} purchases")

            async def rebuild() -> int:
                async with database.unit_of_work() as session:
                    return await segments.rebuild_aggregates(session)

            days, _ = await timed("rebuild-aggregates", rebuild)
            await connection.execute("DELETE FROM casino.rfm_runs; ANALYZE casino.member_days")
            console.print(f"{days:,} member days")
        await connection.execute(
            "DELETE FROM casino.rfm_runs; TRUNCATE casino.user_segments, casino.segment_history"
        )
        now = datetime.now(UTC)

        async def service(at: datetime, full: bool) -> segments.RfmReport:
            async with database.unit_of_work() as session:
                return await segments.run_rfm(session, rules, now=at, full=full)

        await timed(
            "full, by hand (asyncpg, rolled back)", lambda: by_hand(connection, rules, now, None)
        )
        report, full_s = await timed("full run (service)", lambda: service(now, True))
        console.print(f"  {report}")

        await timed(
            f"{options.new_actions:,} new actions (COPY)",
            lambda: new_actions(connection, options.new_actions, now, rng),
        )
        adding = repository.add_figures(repository.action_figures("bench_new"))
        await timed("consumer's statement over the new actions", lambda: connection.execute(adding))
        await timed(
            "incremental, by hand (asyncpg, rolled back)",
            lambda: by_hand(connection, rules, now, now.date()),
        )
        report, incremental_s = await timed(
            "incremental run, same day (service)", lambda: service(now, False)
        )
        console.print(f"  {report}")
        later = now + timedelta(days=1)
        report, _ = await timed(
            "incremental run, next day: window and recency moved (service)",
            lambda: service(later, False),
        )
        console.print(f"  {report}")
        ok = full_s < TARGET_FULL_S and incremental_s < TARGET_INCREMENTAL_S
        for label, seconds, target in (
            ("full", full_s, TARGET_FULL_S),
            ("incremental", incremental_s, TARGET_INCREMENTAL_S),
        ):
            mark = "[green]PASS[/]" if seconds < target else "[red]MISS[/]"
            console.print(f"{mark} {label}: {seconds:.2f} s (target < {target:g} s at 1M/10M)")
        return 0 if ok else 1
    finally:
        await connection.close()
        await database.dispose()
        if embedded is not None and not options.keep_db:
            embedded.stop()


if __name__ == "__main__":
    cli = parser(__doc__ or "", products=False)
    cli.add_argument("--members", type=positive, default=1_000_000, help="members seeded")
    cli.add_argument("--actions", type=positive, default=10_000_000, help="past actions seeded")
    cli.add_argument("--days", type=positive, default=45, help="how far back they go")
    cli.add_argument("--payers", type=float, default=0.05, help="share of members who paid")
    cli.add_argument("--new-actions", type=positive, default=100_000, help="before the increment")
    run(main, cli.parse_args())
