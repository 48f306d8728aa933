"""Pieces shared by the apps' admin commands."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

MIN_PASSWORD = 8
NOT_GIVEN = ""
"""`--password`'s default: ask for it (no password is this short)."""


def _read_password() -> str:
    """Asked for twice without echo on a terminal; otherwise the first line of standard
    input (piped: there is no echo to turn off, so no `getpass` warning)."""
    if sys.stdin.isatty():
        answer: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return answer
    return sys.stdin.readline().rstrip("\r\n")


def _password(value: str) -> str:
    if value == NOT_GIVEN:
        value = _read_password()
    if len(value) < MIN_PASSWORD:
        raise typer.BadParameter(f"the password needs at least {MIN_PASSWORD} characters")
    return value


AdminPassword = Annotated[
    str,
    typer.Option(
        envvar="ENSEMBLE_ADMIN_PASSWORD",
        callback=_password,
        show_default=False,
        help=f"At least {MIN_PASSWORD} characters. Not given: asked for twice on a terminal,"
        " or read from the first line of standard input when it is piped",
    ),
]
"""`--password` (default `NOT_GIVEN`: then asked for, see `_read_password`)."""
