"""The admin commands, run as real processes against the test database."""

from __future__ import annotations

import inspect
import itertools
import os
import re
import subprocess
import sys

import pytest
import typer
from httpx import AsyncClient
from sqlalchemy import func, select, text
from typer.core import TyperCommand, TyperGroup
from typer.testing import CliRunner

from ensemble import cli as ensemble_cli
from ensemble.apps.stock.models import InventoryTransaction, Product, Store
from ensemble.kernel.db import Database
from tests.conftest import TEST_SECRET


def _ensemble(
    database_url: str, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k != "ENSEMBLE_ADMIN_PASSWORD"}
    return subprocess.run(
        [sys.executable, "-m", "ensemble", *args],
        env={**inherited, "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def test_create_admin_then_login(database_url: str, database: Database) -> None:
    created = _ensemble(
        database_url,
        "stock",
        "create-admin",
        "Boss@Example.com",
        env={"ENSEMBLE_ADMIN_PASSWORD": "boss-password"},
    )
    assert created.returncode == 0, created.stderr
    async with database.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT u.role, a.email FROM stock.users u"
                    " JOIN identity.accounts a ON a.id = u.id"
                )
            )
        ).one()
    assert tuple(row) == ("ADMIN", "boss@example.com")
    again = _ensemble(
        database_url,
        "stock",
        "create-admin",
        "boss@example.com",
        env={"ENSEMBLE_ADMIN_PASSWORD": "boss-password"},
    )
    assert again.returncode != 0
    short = _ensemble(
        database_url,
        "stock",
        "create-admin",
        "x@example.com",
        env={"ENSEMBLE_ADMIN_PASSWORD": "short"},
    )
    assert short.returncode != 0


async def test_seed_then_check_stock_finds_no_drift_until_tampered(
    database_url: str, database: Database
) -> None:
    seeded = _ensemble(database_url, "stock", "seed", "--stores", "2", "--products", "1500")
    assert seeded.returncode == 0, seeded.stderr
    async with database.unit_of_work() as session:
        assert (await session.execute(select(func.count()).select_from(Store))).scalar_one() == 2
        assert (
            await session.execute(select(func.count()).select_from(Product))
        ).scalar_one() == 3000
        assert (
            await session.execute(select(func.count()).select_from(InventoryTransaction))
        ).scalar_one() > 0
    clean = _ensemble(database_url, "stock", "check-stock")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no drift" in clean.stdout
    async with database.unit_of_work() as session:
        await session.execute(
            text(
                "UPDATE stock.current_stock SET quantity = quantity + 1"
                " WHERE product_id = (SELECT id FROM stock.products ORDER BY id LIMIT 1)"
            )
        )
    drifted = _ensemble(database_url, "stock", "check-stock")
    assert drifted.returncode == 1
    assert "from log" in drifted.stdout


@pytest.mark.parametrize("app", ["stock", "eco"])
async def test_a_piped_password_is_read_from_stdin_without_a_getpass_warning(
    app: str, database_url: str, combined_client: AsyncClient
) -> None:
    email = f"piped-{app}@example.com"
    created = _ensemble(database_url, app, "create-admin", email, stdin="piped-password\n")
    assert created.returncode == 0, created.stderr
    assert created.stderr == ""
    login = await combined_client.post(
        f"/{app}/api/v1/auth/login", json={"email": email, "password": "piped-password"}
    )
    assert login.status_code == 200, login.text


def test_an_empty_piped_password_is_refused(database_url: str) -> None:
    created = _ensemble(database_url, "stock", "create-admin", "none@example.com")
    assert created.returncode == 2
    assert "the password needs at least 8 characters" in _words(created.stderr)


# Help at 80 columns

NARROW = CliRunner(env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})


def _help_of(*path: str) -> str:
    """A command's `--help` at 80 columns, as words."""
    shown = NARROW.invoke(ensemble_cli.app, [*path, "--help"])
    assert shown.exit_code == 0, shown.output
    assert max(len(line) for line in shown.output.splitlines()) <= 80
    assert _early_breaks(shown.output) == [], path
    return _words(shown.output)


def _early_breaks(output: str) -> list[str]:
    """Lines of text in rich's boxes broken although the next word fits (a line break of
    the docstring's source kept mid-sentence). Rows of options (`-`, `*`) and `[default: …]`
    and the like start lines of their own."""
    rows = [row[2:-2] for row in output.splitlines() if row.startswith("│ ") and row.endswith(" │")]
    found = []
    for above, below in itertools.pairwise(rows):
        column = len(below) - len(below.lstrip())
        continues = column > 0 and bool(above[column : column + 1].strip())
        if continues and not below.lstrip().startswith(("[", "-", "*")):
            free = len(above) - len(above.rstrip())
            if len(below.split()[0]) + 1 < free:
                found.append(f"{above.strip()} / {below.strip()}")
    return found


def _words(output: str) -> str:
    """Rich's output as words: boxes, markup and line breaks gone."""
    return " ".join(re.sub(r"[│╭╮╰╯─*`]", " ", output).split())


Command = TyperCommand | TyperGroup


def _first_paragraph(command: Command) -> str:
    text = inspect.cleandoc(command.help or "").split("\n\n")[0]
    return " ".join(text.replace("`", "").split())


def _commands(group: TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def _command(path: tuple[str, ...]) -> Command:
    command = typer.main.get_command(ensemble_cli.app)
    for name in path:
        assert isinstance(command, TyperGroup)
        command = command.commands[name]
    assert isinstance(command, TyperCommand | TyperGroup)
    return command


def test_every_help_text_is_whole_at_80_columns() -> None:
    """Each command's summary, in its group's list and on its own page, is its whole first
    paragraph: no sentence cut at a source line break or an ellipsis."""
    root = typer.main.get_command(ensemble_cli.app)
    assert isinstance(root, TyperGroup)
    paths = _commands(root)
    assert ("stock", "create-admin") in paths
    for path in paths:
        command = _command(path)
        page = _help_of(*path)
        assert _first_paragraph(command) in page, path
        for name, sub in getattr(command, "commands", {}).items():
            if not sub.hidden:  # a hidden command (`http`, started by serve) is not listed
                assert _first_paragraph(sub) in page, (path, name)
        assert "..." not in page.replace("[ARGS]...", "")  # no summary cut short


@pytest.mark.parametrize("app", ["stock", "eco"])
def test_the_prompted_password_is_not_marked_required(app: str) -> None:
    page = _help_of(app, "create-admin")
    password = page[page.index("--password") : page.index("--help")]
    assert "required" not in password
    assert "ENSEMBLE_ADMIN_PASSWORD" in password
