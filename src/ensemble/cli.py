"""The `ensemble` command: serve the apps, migrate, and each app's admin commands."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
import uvicorn

from ensemble.apps import APP_NAMES, load_app, load_apps
from ensemble.kernel.bootstrap import (
    migrate,
    resolve_database,
    resolve_infrastructure,
)
from ensemble.kernel.db import Database
from ensemble.kernel.events.cli import cli as events_cli
from ensemble.kernel.events.cli import dlq as dlq_cli
from ensemble.kernel.events.process import serve_consumers
from ensemble.kernel.events.relay import serve_relay
from ensemble.kernel.jobs.processes import run_scheduler, run_worker
from ensemble.kernel.modules import jobs_of, resources_of, warmers_of
from ensemble.kernel.observability.logging import configure_logging
from ensemble.kernel.observability.tracing import configure_tracing
from ensemble.kernel.supervisor import Supervisor
from ensemble.server import app_from_environment, create_app
from ensemble.settings import Settings, get_settings

app = typer.Typer(
    help="ensemble: five product backends over one kernel.",
    no_args_is_help=True,
    rich_markup_mode="markdown",  # help paragraphs reflowed to the terminal's width
)
BACKGROUND_ROLES = ("worker", "scheduler", "relay", "consume")
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
    background: Annotated[
        bool,
        typer.Option(
            help="Also run a job worker, the scheduler, the event relay and the event consumers"
        ),
    ] = True,
    workers: Annotated[
        int | None, typer.Option(min=1, help="HTTP server processes (default from settings)")
    ] = None,
) -> None:
    """Start everything: embedded PostgreSQL and Redis when no URLs are set, migrations,
    a job worker, the scheduler (periodic jobs + outbox relay), the event relay, the event
    consumers and the HTTP API."""
    _print_welcome(app_name, host, port)
    with _infrastructure() as resolved:
        roles = BACKGROUND_ROLES if background else ()
        settings = resolved.model_copy(update={"ready_roles": list(roles)})
        processes = workers or settings.web_workers
        supervisor = _supervise(roles, settings)
        bind_host, bind_port = host or settings.host, port or settings.port
        logger.info("serving %s on http://%s:%s", app_name or "every app", bind_host, bind_port)
        # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into SystemExit so the
        # children and embedded servers below are stopped too.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            if processes == 1:
                modules = [load_app(app_name)] if app_name else load_apps()
                api = create_app(modules, settings, alone=app_name is not None)
                configure_tracing(settings, "api")
                uvicorn.run(api, host=bind_host, port=bind_port, **HTTP_OPTIONS)
            else:
                http = _supervise(["http"] * processes, settings, app_name, bind_host, bind_port)
                try:
                    _wait_for_a_signal()
                finally:
                    http.stop()
        finally:
            supervisor.stop()


HTTP_OPTIONS: dict[str, Any] = {
    "log_config": None,
    "access_log": False,
    "server_header": False,
    "proxy_headers": False,  # the client address is ours to derive (TRUSTED_PROXIES)
}


def _wait_for_a_signal() -> None:
    """Block until SIGINT or SIGTERM (the HTTP processes run as supervised children)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


@app.command(hidden=True)
def http(
    host: Annotated[str, typer.Option()],
    port: Annotated[int, typer.Option()],
) -> None:
    """One HTTP process of `serve --workers N` (serve starts them).

    It serves the app `serve` asked for on a socket of its own, bound with SO_REUSEPORT, so
    the kernel spreads new connections across the processes (a socket shared by all hands
    each connection to whichever process accepts first: under keep-alive, one took every
    connection)."""
    api = app_from_environment()  # its settings, logging and tracing from the environment
    server = uvicorn.Server(uvicorn.Config(api, **HTTP_OPTIONS))
    server.run(sockets=[reuse_port_socket(host, port)])


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` that other processes may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def _print_welcome(app_name: str | None, host: str | None, port: int | None) -> None:
    """Where to look, in plain words, before the JSON logs start."""
    settings = get_settings()
    bound = host or settings.host
    shown = "127.0.0.1" if bound in {"0.0.0.0", "::", ""} else bound
    base = f"http://{shown}:{port or settings.port}"
    modules = [load_app(app_name)] if app_name else load_apps()
    prefix = "" if app_name else "/{name}"
    lines = [f"ensemble is starting {app_name or 'every app'} on {base}. Open:"]
    lines += [f"  {m.title} docs: {base}{prefix.format(name=m.name)}/docs" for m in modules]
    lines += [
        f"  health: {base}/health (readiness: {base}/ready)",
        "Logs follow, one JSON object per line. Ctrl+C stops everything.",
    ]
    typer.echo("\n".join(lines))


@contextmanager
def _infrastructure() -> Iterator[Settings]:
    """A role's settings, with the databases it needs up (embedded servers started when no
    URL is set, stopped on the way out) and migrated to head."""
    settings = get_settings()
    configure_logging(settings.log_level)
    infrastructure = resolve_infrastructure(settings)
    assert infrastructure.settings.database_url is not None
    asyncio.run(_migrate(infrastructure.settings.database_url, "head", downgrade=False))
    try:
        yield infrastructure.settings
    finally:
        infrastructure.stop()


def _child_environment(settings: Settings, app_name: str | None = None) -> dict[str, str]:
    """What a child process needs to join the servers this one resolved."""
    return {
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "SERVE_APP": app_name or "",
        "READY_ROLES": json.dumps(settings.ready_roles),
    }


def _spawn(role: str, settings: Settings, *args: str | int) -> subprocess.Popen[bytes]:
    """`ensemble <role> [args]` in a session of its own: a terminal's Ctrl+C stops `serve`,
    which stops its roles, rather than reaching them first (which would read as crashes)."""
    env = {**os.environ, **_child_environment(settings, settings.serve_app)}
    command = [sys.executable, "-m", "ensemble", role, *map(str, args)]
    return subprocess.Popen(command, env=env, start_new_session=True)


def _supervise(
    roles: Sequence[str],
    settings: Settings,
    app_name: str | None = None,
    host: str | None = None,
    port: int | None = None,
) -> Supervisor:
    """Start `roles` as child processes, restarted whenever one dies (`http` roles serve
    `app_name`, or every app, on `host:port`)."""
    served = settings.model_copy(update={"serve_app": app_name})
    http_args = ("--host", host or settings.host, "--port", port or settings.port)

    def spawn(role: str) -> subprocess.Popen[bytes]:
        return _spawn(role, served, *(http_args if role == "http" else ()))

    supervisor = Supervisor(
        roles,
        spawn,
        backoff=settings.supervisor_backoff_seconds,
        max_backoff=settings.supervisor_backoff_max_seconds,
    )
    supervisor.start()
    return supervisor


@app.command()
def worker(
    threads: Annotated[
        int | None, typer.Option(help="Worker threads (default from settings)")
    ] = None,
) -> None:
    """Run background jobs of every app until SIGTERM."""
    with _infrastructure() as settings:
        modules = load_apps()
        run_worker(
            settings,
            jobs_of(modules),
            threads=threads,
            warmers=warmers_of(modules),
            resources=resources_of(modules),
        )


@app.command()
def scheduler() -> None:
    """Relay requested jobs to the queue and send periodic jobs (one leader at a time)."""
    with _infrastructure() as settings:
        run_scheduler(settings, jobs_of(load_apps()))


@app.command()
def relay() -> None:
    """Publish committed events from the outbox to the event bus (any number may run)."""
    with _infrastructure() as settings:
        serve_relay(settings)


@app.command()
def consume() -> None:
    """Run every app's event consumers and read-model projections (any number may run)."""
    with _infrastructure() as settings:
        serve_consumers(settings, load_apps())


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


app.add_typer(events_cli, name="events")
app.add_typer(dlq_cli, name="dlq", no_args_is_help=True)

for _module in load_apps():
    if _module.cli is not None:
        app.add_typer(_module.cli, name=_module.name)


def main() -> None:
    app()
