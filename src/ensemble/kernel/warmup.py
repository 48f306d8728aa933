"""Warming a process up at start, so the first request or job after a restart does not pay
for what every later one finds ready: the API's routes and the ORM's mappers prepared, pool
connections opened (each connection's first round trips, the dialect's start-up queries)
and the apps' data loaded (`AppModule.warm_up`, e.g. ECO²'s classifier lexicon)."""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack

import anyio
import anyio.lowlevel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers
from starlette.applications import Starlette
from starlette.routing import NoMatchFound

from ensemble.kernel.db import Database

logger = logging.getLogger(__name__)

Warmer = Callable[[], object]
"""Loads something into the process (its result is dropped; it caches what it loaded)."""
CONNECTIONS = 4
"""Pool connections opened at start: enough for the first burst, few enough to be quick."""


def prepare_routes(app: Starlette) -> None:
    """FastAPI prepares a router's routes (dependencies, body fields) on its first request;
    asking for the URL of a name no route has walks them all, and prepares them, now."""
    with contextlib.suppress(NoMatchFound):
        app.url_path_for("ensemble:warm-up")


async def load_event_loop_backend() -> None:
    """anyio imports its asyncio backend on first use (Starlette's first request uses it)."""
    await anyio.lowlevel.checkpoint()


def run_warmers(warmers: Iterable[Warmer]) -> None:
    """Configure the ORM's mappers (done on first use otherwise) and run the apps' warmers."""
    configure_mappers()
    for warm in warmers:
        warm()


async def open_connections(database: Database, count: int = CONNECTIONS) -> None:
    """Check out `count` connections at once (each answers `SELECT 1`) and return them to
    the pool, so the first requests find them open. Best effort: a database that does not
    answer yet is only logged (the process starts cold, and `/ready` tells)."""
    started = time.perf_counter()
    try:
        async with AsyncExitStack() as stack:
            for _ in range(count):
                connection = await stack.enter_async_context(database.engine.connect())
                await connection.execute(text("SELECT 1"))
    except (OSError, SQLAlchemyError) as exc:
        logger.warning("could not open warm connections: %s", exc)
        return
    logger.debug("%s connections warm in %.0f ms", count, (time.perf_counter() - started) * 1000)


def freeze_startup_objects() -> None:
    """Move everything start-up made (modules, the ORM's mappers, routes, schemas) out of the
    garbage collector's sight: it never frees them, yet each full collection walked them
    all, pausing a request for 100 ms and more (seen in the benchmarks' p99)."""
    gc.collect()
    gc.freeze()
