"""`ensemble casino …` admin commands: the first admin, demo and benchmark data,
rebuilding the leaderboards."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from redis.asyncio import Redis
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino import service
from ensemble.apps.casino.auth import REALM
from ensemble.apps.casino.domain import (
    COINS,
    NICKNAME_LENGTH,
    SIGN_UP_KEY,
    Rank,
    Reason,
    login_name,
)
from ensemble.apps.casino.leaderboards import service as leaderboards
from ensemble.apps.casino.models import SCHEMA
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.kernel.bootstrap import open_database, resolve_redis
from ensemble.kernel.console import (
    NOT_GIVEN,
    AdminPassword,
    Connection,
    bulk_load,
    chunked,
    copy_rows,
    in_unit_of_work,
)
from ensemble.kernel.db import id_at, new_id, utcnow
from ensemble.kernel.identity.passwords import hash_password
from ensemble.kernel.identity.service import normalise_email
from ensemble.kernel.ledger import Direction
from ensemble.settings import get_settings

cli = typer.Typer(help="Casino-Club administration.", no_args_is_help=True)
console = Console()


def _nickname(value: str) -> str:
    low, high = NICKNAME_LENGTH
    if not low <= len(value) <= high:
        raise typer.BadParameter(f"a nickname has {low} to {high} characters")
    return value


AdminNickname = Annotated[
    str, typer.Argument(help="The admin's nickname (its login)", callback=_nickname)
]


@cli.command("create-admin")
def create_admin(nickname: AdminNickname, password: AdminPassword = NOT_GIVEN) -> None:
    """Create an ADMIN member (there is no open endpoint for it; no invite code needed)."""
    coins = CasinoSettings().signup_coins

    async def create(session: AsyncSession) -> str:
        account, _ = await service.create_member(
            session, nickname=nickname, password=password, signup_coins=coins, rank=Rank.ADMIN
        )
        return str(account.id)

    console.print(f"admin {nickname} created with id {in_unit_of_work(create)}")


@cli.command("rebuild-leaderboards")
def rebuild_leaderboards() -> None:
    """Rebuild the current board of every game and period from `casino.hands` (after Redis
    lost data, or to repair a board that missed hands)."""
    settings, _ = resolve_redis(get_settings())
    assert settings.redis_url is not None

    async def run() -> dict[str, int]:
        redis = Redis.from_url(settings.redis_url or "")
        try:
            async with open_database(settings) as database, database.sessionmaker() as session:
                return await leaderboards.rebuild_all(session, redis, utcnow())
        finally:
            await redis.aclose()

    for key, members in asyncio.run(run()).items():
        console.print(f"{key}: {members} members")


@cli.command("seed")
def seed_command(
    members: Annotated[int, typer.Option(min=1, help="Members to create")] = 100,
    actions: Annotated[
        int, typer.Option(min=0, help="Actions to spread over the members and the past days")
    ] = 1000,
    days: Annotated[int, typer.Option(min=1, help="How far back the actions go")] = 30,
    password: Annotated[
        str, typer.Option(help="The password of every demo member", show_default=False)
    ] = "casino-demo-password",
) -> None:
    """Bulk-load demo members (with their sign-up coins) and their past actions (COPY);
    prints how to log in."""
    coins = CasinoSettings().signup_coins
    plan = SeedPlan(members, actions, days=days, password=password, signup_coins=coins)
    result = bulk_load(
        console,
        "rows",
        plan.rows_expected,
        lambda connection, advance: seed(connection, plan, advance),
    )
    console.print(
        f"{result.members} members (e.g. {result.first_nickname!r}, password {plan.password!r}),"
        f" {result.actions} actions"
    )


@cli.command("rfm")
def rfm_command(
    full: Annotated[bool, typer.Option(help="Score every member, not only those changed")] = False,
) -> None:
    """Run the RFM classification now (incremental unless `--full`)."""
    from ensemble.apps.casino.segments import service as segments

    rules = segments.rules_of(CasinoSettings())

    async def run(session: AsyncSession) -> segments.RfmReport:
        return await segments.run_rfm(session, rules, now=utcnow(), full=full)

    report = in_unit_of_work(run)
    console.print(
        f"rfm as of {report.as_of} ({'full' if report.full else 'incremental'}):"
        f" {report.touched} scored, {report.changed} changed, {report.moved} moved group"
    )


@cli.command("rebuild-aggregates")
def rebuild_aggregates() -> None:
    """Recompute members' daily figures from every action and purchase (after a bulk load;
    with the consumers stopped), then run `ensemble casino rfm --full`."""
    from ensemble.apps.casino.segments import service as segments

    console.print(f"{in_unit_of_work(segments.rebuild_aggregates)} member days")


# The bulk seed

CHUNK = 10_000


SEEDED_ACTIONS = ("PAGE_VIEW", "BUTTON_CLICK", "LOGIN", "LEADERBOARD_VIEW", "ACHIEVEMENT_VIEW")
"""What the seed's members did (client actions: plays and purchases have rows of their own)."""
SCREENS = ("lobby", "slot", "gacha", "shop", "profile", "inventory")


@dataclass(frozen=True)
class SeedPlan:
    members: int
    actions: int = 0
    days: int = 30
    password: str = "casino-demo-password"
    signup_coins: int = 1000
    seed: int = 7

    @property
    def rows_expected(self) -> int:
        """What the progress bar counts: members and actions."""
        return self.members + self.actions


@dataclass(frozen=True)
class SeedResult:
    members: int
    actions: int
    first_nickname: str


async def seed(
    connection: Connection, plan: SeedPlan, advance: Callable[[int], None]
) -> SeedResult:
    """Load `plan` through a raw asyncpg connection of its own, a transaction per chunk;
    `advance(n)` reports rows written. Every member shares one password hash (hashing is the
    slow part of making an account); each gets what a sign-up gives: the coins as a real
    ledger entry and the first day of a login streak."""
    now = utcnow()
    run = uuid.uuid4().hex[:6]  # seeding twice adds new members, never collides
    password_hash = await hash_password(plan.password)
    nicknames = [f"demo{index + 1}-{run}" for index in range(plan.members)]
    member_ids: list[uuid.UUID] = []
    for chunk in chunked(nicknames, CHUNK):
        rows = [(new_id(), nickname) for nickname in chunk]
        async with connection.transaction():
            await _copy_members(connection, rows, password_hash, now)
            await _copy_signup_coins(connection, [member_id for member_id, _ in rows], plan, now)
        member_ids += [member_id for member_id, _ in rows]
        advance(len(rows))
    actions = _past_actions(random.Random(plan.seed), member_ids, plan, now)
    for start in range(0, plan.actions, CHUNK):
        rows = [next(actions) for _ in range(min(CHUNK, plan.actions - start))]
        async with connection.transaction():
            await copy_rows(connection, SCHEMA, "actions", ACTION_COLUMNS, rows)
        advance(len(rows))
    if plan.actions:
        await connection.execute("ANALYZE casino.actions")
    return SeedResult(plan.members, plan.actions, nicknames[0])


def _past_actions(
    rng: random.Random, member_ids: Sequence[uuid.UUID], plan: SeedPlan, now: datetime
) -> Iterator[tuple[Any, ...]]:
    """Endless client actions of random members at random instants of the past `days` (ids
    of their instants, so they sort in time); the seed loads them, not their events: they
    are history, not news for the consumers."""
    span = timedelta(days=plan.days).total_seconds()
    while True:
        at = now - timedelta(seconds=rng.uniform(0, span))
        action = rng.choice(SEEDED_ACTIONS)
        context = json.dumps({"screen": rng.choice(SCREENS)})
        yield id_at(at), rng.choice(member_ids), action, context, at


async def _copy_members(
    connection: Connection,
    rows: Sequence[tuple[uuid.UUID, str]],
    password_hash: str,
    now: datetime,
) -> None:
    accounts = [
        (uid, REALM, normalise_email(login_name(nick)), password_hash, True, now)
        for uid, nick in rows
    ]
    await copy_rows(connection, "identity", "accounts", ACCOUNT_COLUMNS, accounts)
    users = [(uid, nick, Rank.STANDARD.value, 0, "UTC", now) for uid, nick in rows]
    await copy_rows(connection, SCHEMA, "users", USER_COLUMNS, users)
    # the sign-up is the streak's first day (`rewards.start_streak`)
    today = now.date()
    streaks = [(uid, 1, 1, today, now) for uid, _ in rows]
    await copy_rows(connection, SCHEMA, "streaks", STREAK_COLUMNS, streaks)
    days = [(uid, today, 1, False, now) for uid, _ in rows]
    await copy_rows(connection, SCHEMA, "streak_days", STREAK_DAY_COLUMNS, days)


async def _copy_signup_coins(
    connection: Connection, member_ids: Sequence[uuid.UUID], plan: SeedPlan, now: datetime
) -> None:
    """Each member's coins account holding the sign-up grant, and the entry that granted it
    (what `service.create_member` writes, in bulk)."""
    if not plan.signup_coins:
        return
    coins = plan.signup_coins
    accounts = [(new_id(), REALM, member_id, COINS, coins, 1, now, now) for member_id in member_ids]
    await copy_rows(connection, "ledger", "accounts", LEDGER_ACCOUNT_COLUMNS, accounts)
    entries = [
        (new_id(), account[0], 1, Direction.EARN.value, coins, Reason.SIGN_UP.value,
         SIGN_UP_KEY, 0, coins, now)
        for account in accounts
    ]  # fmt: skip
    await copy_rows(connection, "ledger", "entries", LEDGER_ENTRY_COLUMNS, entries)


ACTION_COLUMNS = ("id", "user_id", "action_type", "context", "created_at")
ACCOUNT_COLUMNS = ("id", "realm", "email", "password_hash", "is_active", "created_at")
USER_COLUMNS = ("account_id", "nickname", "rank", "vip_tier", "time_zone", "created_at")
STREAK_COLUMNS = ("user_id", "current", "longest", "last_day", "updated_at")
STREAK_DAY_COLUMNS = ("user_id", "day", "streak_day", "shield_used", "claimed_at")
LEDGER_ACCOUNT_COLUMNS = (
    "id", "owner_realm", "owner_id", "currency", "balance", "last_sequence", "created_at",
    "updated_at",
)  # fmt: skip
LEDGER_ENTRY_COLUMNS = (
    "id", "account_id", "sequence", "direction", "amount", "reason", "idempotency_key",
    "balance_before", "balance_after", "created_at",
)  # fmt: skip
