"""Ledger spends on ONE hot account: the kernel ledger next to raw asyncpg doing the same SQL.

N concurrent clients (default 32) spend 1 point each from the same account, one
transaction per spend, and every series starts on a fresh, funded account:

- **baseline raw asyncpg**: `UPDATE accounts … WHERE balance >= amount RETURNING` and the
  entry `INSERT`, two statements in one transaction, from an asyncpg pool;
- **raw asyncpg, one statement**: the kernel's own statement (`repository.POST`, the UPDATE
  and the INSERT in one data-modifying CTE) from the same pool, to separate what the SQL
  shape buys from what SQLAlchemy and the service cost;
- **ensemble ledger.spend**: `kernel.ledger.spend` in `Database.unit_of_work()` (SQLAlchemy
  session, pool pre-ping, one commit);
- **ensemble GroupCommitter**: `kernel.ledger.GroupCommitter.spend`, which coalesces the
  spends waiting on the account into one transaction per round.

The series run in `--rounds` interleaved rounds (order rotated each round) and are merged,
so a busy phase of the machine does not favour one of them. Every spend carries its own
idempotency key (`--no-keys` drops them). After each series the account's chain is verified
and its balance checked. Goal: ledger.spend throughput ≥ 0.8×
the baseline's. No seeding and no server: only PostgreSQL (embedded unless DATABASE_URL).
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy import text

from common import (
    Stats,
    console,
    migrated_database,
    parser,
    positive,
    report,
    run,
    run_concurrently,
)
from ensemble.kernel.db import Database, new_id, utcnow
from ensemble.kernel.ledger import (
    GroupCommitter,
    earn,
    get_account,
    open_account,
    spend,
    verify_chain,
)
from ensemble.kernel.ledger.repository import POST

GOAL_RATIO = 0.8
REALM = "bench"
CURRENCY = "POINT"
AMOUNT = 1

UPDATE_SQL = """
UPDATE ledger.accounts
SET balance = balance - $2, last_sequence = last_sequence + 1, updated_at = $3
WHERE id = $1 AND balance >= $2
RETURNING balance, last_sequence
"""
INSERT_SQL = """
INSERT INTO ledger.entries (
    id, account_id, sequence, direction, amount, reason, reference_type, reference_id,
    description, idempotency_key, balance_before, balance_after, created_at
) VALUES ($1, $2, $3, 'SPEND', $4, 'BENCH', NULL, NULL, NULL, $5, $6, $7, $8)
"""
# The kernel's statement, with asyncpg's positional parameters.
CTE_PARAMS = (
    "account_id",
    "delta",
    "at",
    "entry_id",
    "direction",
    "amount",
    "reason",
    "reference_type",
    "reference_id",
    "description",
    "idempotency_key",
)
CTE_SQL = POST.text
for _position, _name in enumerate(CTE_PARAMS, start=1):
    CTE_SQL = CTE_SQL.replace(f":{_name}", f"${_position}")


class Refused(Exception):
    """The baseline's UPDATE matched no row: the balance was too low."""


@dataclass
class Setup:
    database: Database
    pool: asyncpg.Pool
    spends: int
    concurrency: int
    keys: bool

    def key(self, series: str, index: int) -> str | None:
        return f"{series}-{index}" if self.keys else None


Spend = Callable[[uuid.UUID, str | None], Awaitable[None]]


# One spend, four ways


def raw_two_statements(setup: Setup) -> Spend:
    async def one(account_id: uuid.UUID, key: str | None) -> None:
        async with setup.pool.acquire() as connection, connection.transaction():
            at = utcnow()
            row = await connection.fetchrow(UPDATE_SQL, account_id, AMOUNT, at)
            if row is None:
                raise Refused
            balance, sequence = row["balance"], row["last_sequence"]
            await connection.execute(
                INSERT_SQL, new_id(), account_id, sequence, AMOUNT, key, balance + AMOUNT,
                balance, at,
            )  # fmt: skip

    return one


def raw_one_statement(setup: Setup) -> Spend:
    async def one(account_id: uuid.UUID, key: str | None) -> None:
        async with setup.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                CTE_SQL, account_id, -AMOUNT, utcnow(), new_id(), "SPEND", AMOUNT, "BENCH",
                None, None, None, key,
            )  # fmt: skip
            if row is None or not row["inserted"]:
                raise Refused

    return one


def kernel_service(setup: Setup) -> Spend:
    async def one(account_id: uuid.UUID, key: str | None) -> None:
        async with setup.database.unit_of_work() as session:
            await spend(
                session, account_id=account_id, amount=AMOUNT, reason="BENCH", idempotency_key=key
            )

    return one


def group_committer(setup: Setup) -> Spend:
    committer = GroupCommitter(setup.database)

    async def one(account_id: uuid.UUID, key: str | None) -> None:
        await committer.spend(
            account_id=account_id, amount=AMOUNT, reason="BENCH", idempotency_key=key
        )

    return one


# Series


async def require_ledger(database: Database) -> None:
    """A database migrated while 0003 was still an empty placeholder has no ledger tables."""
    async with database.engine.connect() as connection:
        if await connection.scalar(text("SELECT to_regclass('ledger.accounts')")) is None:
            raise SystemExit(
                "this database has no ledger tables although it is migrated to head: it was"
                " migrated while 0003 was an empty placeholder. Use a fresh --data-dir (or"
                " delete it), or `alembic downgrade 0002` and upgrade it again."
            )


async def funded_account(database: Database, funds: int) -> uuid.UUID:
    async with database.unit_of_work() as session:
        account = await open_account(session, realm=REALM, owner_id=new_id(), currency=CURRENCY)
        await earn(session, account_id=account.id, amount=funds, reason="BENCH_FUNDS")
        return account.id


async def check(database: Database, account_id: uuid.UUID, expected: int, label: str) -> None:
    """The chain is sound and the balance is exactly what the spends left."""
    async with database.unit_of_work() as session:
        problems = await verify_chain(session, account_id)
        balance = (await get_account(session, account_id)).balance
    if problems or balance != expected:
        raise RuntimeError(f"{label}: balance {balance} (expected {expected}); {problems[:5]}")


async def series(setup: Setup, label: str, name: str, make: Callable[[Setup], Spend]) -> Stats:
    """A warm-up then `setup.spends` measured spends on a fresh account."""
    one = make(setup)
    warmup = max(setup.concurrency * 4, setup.spends // 10)
    account_id = await funded_account(setup.database, warmup + setup.spends)
    timings: list[float] = []
    run_id = uuid.uuid4().hex[:8]

    async def measured(index: int) -> None:
        started = time.perf_counter()
        await one(account_id, setup.key(f"{name}-{run_id}", index))
        timings.append((time.perf_counter() - started) * 1000)

    await run_concurrently(warmup, setup.concurrency, lambda i: one(account_id, None))
    wall = await run_concurrently(setup.spends, setup.concurrency, measured)
    await check(setup.database, account_id, 0, label)
    return Stats(label, timings, wall)


SERIES: list[tuple[str, str, Callable[[Setup], Spend]]] = [
    ("baseline raw asyncpg", "raw", raw_two_statements),
    ("raw asyncpg, one statement", "cte", raw_one_statement),
    ("ensemble ledger.spend", "kernel", kernel_service),
    ("ensemble GroupCommitter", "group", group_committer),
]


async def interleaved(setup: Setup, rounds: int) -> list[Stats]:
    """Every series once per round, in a rotated order, merged: slow phases of a busy machine
    then hit every series alike instead of whichever happened to run then."""
    merged = {label: Stats(label, [], 0.0) for label, _, _ in SERIES}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("series", total=rounds * len(SERIES))
        for round_ in range(rounds):
            for label, name, make in SERIES[round_:] + SERIES[:round_]:
                bar.update(task, description=f"round {round_ + 1}: {label}")
                stats = await series(setup, label, name, make)
                merged[label].samples.extend(stats.samples)
                merged[label].wall_s = (merged[label].wall_s or 0.0) + (stats.wall_s or 0.0)
                bar.advance(task)
    return list(merged.values())


def ratio_line(ours: Stats, base: Stats) -> float:
    value = (ours.throughput or 0.0) / (base.throughput or float("inf"))
    console.print(
        f"{ours.label}: {ours.throughput or 0:,.0f} spends/s = [bold]{value:.2f}x[/] the"
        f" baseline's {base.throughput or 0:,.0f} (p50 {ours.p(50):.2f} vs {base.p(50):.2f} ms,"
        f" p99 {ours.p(99):.2f} vs {base.p(99):.2f} ms)"
    )
    return value


async def main(options: argparse.Namespace) -> int:
    async with migrated_database(options, options.concurrency) as dbs:
        await require_ledger(dbs.database)
        per_round = max(1, options.spends // options.rounds)
        setup = Setup(dbs.database, dbs.pool, per_round, options.concurrency, not options.no_keys)
        base, cte, kernel, group = await interleaved(setup, options.rounds)

    report(
        f"ledger spends on one hot account: {len(base.samples):,} per series in"
        f" {options.rounds} interleaved rounds, {options.concurrency} clients,"
        f" {'with' if setup.keys else 'no'} idempotency keys",
        [base, cte, kernel, group],
        ratio=(kernel, base),
        throughput_unit="spends/s",
    )
    ratios = [ratio_line(ours, base) for ours in (kernel, group, cte)]
    ok = ratios[0] >= GOAL_RATIO
    mark = "[green]PASS[/]" if ok else "[red]MISS[/]"
    console.print(
        f"{mark} ledger.spend throughput {ratios[0]:.2f}x the baseline (goal ≥ {GOAL_RATIO}x)"
    )
    return 0 if ok else 1


def options_parser() -> argparse.ArgumentParser:
    p = parser(__doc__.splitlines()[0] if __doc__ else "ledger spends")
    p.add_argument(
        "--spends", type=positive, default=3000, help="measured spends per series (all rounds)"
    )
    p.add_argument("--concurrency", type=positive, default=32, help="concurrent clients")
    p.add_argument("--rounds", type=positive, default=3, help="interleaved rounds of all series")
    p.add_argument("--no-keys", action="store_true", help="spend without idempotency keys")
    return p


if __name__ == "__main__":
    # `--products`, `--seed` and `--log-level` come with the shared parser; unused here.
    run(main, options_parser().parse_args())
