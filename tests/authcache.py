"""Waiting for the in-process app's auth cache, so that a test's requests go through it."""

from __future__ import annotations

from ensemble.kernel.identity.cache import AuthCache, process_caches
from tests.polling import eventually

LISTENER_DEADLINE_S = 30.0


async def _live_caches() -> list[AuthCache]:
    return [cache for cache in process_caches() if cache.live]


async def live_auth_cache() -> AuthCache:
    """The running app's auth cache once its listener is up (exactly one app runs)."""
    live = await eventually(
        _live_caches, until=lambda caches: len(caches) == 1, timeout=LISTENER_DEADLINE_S
    )
    return live[0]
