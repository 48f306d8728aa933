"""An application served by a real uvicorn on a free loopback port, in the test's own event
loop (so it shares the test's database pool), for what only a real server shows: its own
log lines, headers and a browser."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from tests.apicheck import free_port
from tests.polling import eventually


@asynccontextmanager
async def uvicorn_serving(app: ASGIApp, **options: Any) -> AsyncIterator[str]:
    """`app` served (lifespan run) until the block ends; yields its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_config=None, access_log=False, **options
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        if serving.done():
            serving.result()  # raises what stopped it
            raise AssertionError("uvicorn stopped before it started")
        return server.started

    await eventually(started, bool, timeout=30)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        await serving
