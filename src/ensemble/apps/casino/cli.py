"""`ensemble casino …` admin commands: the first admin, rebuilding the leaderboards."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from redis.asyncio import Redis
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino import service
from ensemble.apps.casino.domain import NICKNAME_LENGTH, Rank
from ensemble.apps.casino.leaderboards import service as leaderboards
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.kernel.bootstrap import open_database, resolve_redis
from ensemble.kernel.console import NOT_GIVEN, AdminPassword, in_unit_of_work
from ensemble.kernel.db import utcnow
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
