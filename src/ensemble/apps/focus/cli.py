"""`ensemble focus …` admin commands."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus import service
from ensemble.apps.focus.models import Role
from ensemble.kernel.console import NOT_GIVEN, AdminEmail, AdminPassword, in_unit_of_work

cli = typer.Typer(help="Focus Mate administration.", no_args_is_help=True)
console = Console()


@cli.command("create-admin")
def create_admin(email: AdminEmail, password: AdminPassword = NOT_GIVEN) -> None:
    """Create an ADMIN account (there is no open endpoint for it)."""

    async def create(session: AsyncSession) -> str:
        account, _ = await service.sign_up(session, email=email, password=password, role=Role.ADMIN)
        return str(account.id)

    console.print(f"admin {email} created with id {in_unit_of_work(create)}")
