"""`ensemble b0 …` commands."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from ensemble.kernel.identity.external import external_secret, sign_dev_token
from ensemble.settings import get_settings

cli = typer.Typer(help="B0 administration.", no_args_is_help=True)


@cli.command("dev-token")
def dev_token(
    sub: Annotated[str, typer.Option(help="The provider's user id (the token's `sub`)")],
    email: Annotated[str | None, typer.Option(help="Email claim")] = None,
    hours: Annotated[float, typer.Option(min=0.01, help="Lifetime in hours")] = 24.0,
) -> None:
    """Print a development token signed like the provider's (HS256), to try B0 without it."""
    settings = get_settings()
    secret = external_secret(settings)
    if secret is None:
        raise typer.BadParameter("only a JWKS is configured: dev tokens need an HS256 secret")
    typer.echo(
        sign_dev_token(
            secret, sub, email, timedelta(hours=hours), audience=settings.external_jwt_audience
        )
    )
