"""Pieces shared by the apps' admin commands."""

from __future__ import annotations

from typing import Annotated

import typer

MIN_PASSWORD = 8


def _password(value: str) -> str:
    if len(value) < MIN_PASSWORD:
        raise typer.BadParameter(f"the password needs at least {MIN_PASSWORD} characters")
    return value


AdminPassword = Annotated[
    str,
    typer.Option(
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="ENSEMBLE_ADMIN_PASSWORD",
        callback=_password,
        help=f"At least {MIN_PASSWORD} characters",
    ),
]
"""`--password`, asked for twice unless given (or in `ENSEMBLE_ADMIN_PASSWORD`)."""
