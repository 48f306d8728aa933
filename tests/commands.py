"""Admin commands (`ensemble …`) run in-process by tests, on the test database and Redis."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner, Result

from ensemble import cli as ensemble_cli
from ensemble.settings import Settings, get_settings
from tests.conftest import TEST_SECRET


def invoke_cli(settings: Settings, *args: str) -> Result:
    """`ensemble <args>` through typer's runner, on the test database and Redis. Commands
    call `asyncio.run`: from a test, use `run_cli` (a thread of its own)."""
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SECRET_KEY": TEST_SECRET,
        "DATA_DIR": str(settings.data_dir),
    }
    get_settings.cache_clear()  # the command reads the environment given here
    try:
        return CliRunner().invoke(ensemble_cli.app, list(args), env=env)
    finally:
        get_settings.cache_clear()


async def run_cli(settings: Settings, *args: str) -> Result:
    return await asyncio.to_thread(invoke_cli, settings, *args)
