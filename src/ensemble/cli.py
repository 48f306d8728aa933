"""The `ensemble` command: serve the apps, migrate, and each app's admin commands."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Annotated

import typer
import uvicorn

from ensemble.apps import APP_NAMES, load_app, load_apps
from ensemble.kernel.bootstrap import migrate, resolve_database
from ensemble.kernel.db import Database
from ensemble.kernel.observability.logging import configure_logging
from ensemble.server import create_app
from ensemble.settings import get_settings

app = typer.Typer(help="ensemble: five product backends over one kernel.", no_args_is_help=True)
logger = logging.getLogger("ensemble")


async def _migrate(url: str, revision: str, downgrade: bool) -> None:
    database = Database(url, pool_size=1)
    try:
        await migrate(database.engine, revision, downgrade=downgrade)
    finally:
        await database.dispose()


@app.command()
def serve(
    app_name: Annotated[
        str | None, typer.Option("--app", help=f"Serve one app alone at the root: {APP_NAMES}")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings)")] = None,
) -> None:
    """Start everything: embedded PostgreSQL if no DATABASE_URL, migrations, the HTTP API."""
    settings = get_settings()
    configure_logging(settings.log_level)
    settings, embedded = resolve_database(settings)
    assert settings.database_url is not None
    asyncio.run(_migrate(settings.database_url, "head", downgrade=False))
    modules = [load_app(app_name)] if app_name else load_apps()
    api = create_app(modules, settings, alone=app_name is not None)
    bind_host, bind_port = host or settings.host, port or settings.port
    logger.info("serving %s on http://%s:%s", [m.name for m in modules], bind_host, bind_port)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into SystemExit so the
    # embedded server below is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(api, host=bind_host, port=bind_port, log_config=None, access_log=False)
    finally:
        if embedded is not None:
            embedded.stop()


@app.command("migrate")
def migrate_command(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
    downgrade: Annotated[bool, typer.Option(help="Downgrade to the revision instead")] = False,
) -> None:
    """Apply (or roll back) database migrations."""
    settings, _ = resolve_database(get_settings())
    assert settings.database_url is not None
    asyncio.run(_migrate(settings.database_url, revision, downgrade))
    typer.echo(f"database at {'downgraded' if downgrade else 'upgraded'} to {revision}")


for _module in load_apps():
    if _module.cli is not None:
        app.add_typer(_module.cli, name=_module.name)


def main() -> None:
    app()
