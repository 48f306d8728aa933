"""An application's lifespan run in-process, with room for a busy machine."""

from __future__ import annotations

from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

LIFESPAN_TIMEOUT_SECONDS = 60.0
"""A start-up (hub, warm-up) or shutdown may take seconds on a busy machine."""


def lifespan_of(app: ASGIApp) -> LifespanManager:
    """`app`'s lifespan run in-process (startup and shutdown each within the timeout)."""
    return LifespanManager(
        app, startup_timeout=LIFESPAN_TIMEOUT_SECONDS, shutdown_timeout=LIFESPAN_TIMEOUT_SECONDS
    )
