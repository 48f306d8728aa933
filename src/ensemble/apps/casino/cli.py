"""`ensemble casino …` admin commands: the first admin."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino import service
from ensemble.apps.casino.domain import NICKNAME_LENGTH, Rank
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.kernel.console import NOT_GIVEN, AdminPassword, in_unit_of_work

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
