"""Looking at read models from inside a rebuild: deterministic reads while a new generation
is half built (instead of hoping a concurrent reader's turn comes during the rebuild)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import replace

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from ensemble.kernel.events import Envelope
from ensemble.kernel.events.projection import Namespace, Projection, generations


def reading_mid_rebuild(
    projection: Projection, redis: Redis, look: Callable[[], Awaitable[None]], every: int = 1
) -> Projection:
    """`projection`, but a rebuild of it calls `look()` before applying every `every`-th
    event to the generation it is building (not yet the one readers are served)."""
    applied = itertools.count()

    async def apply(pipe: Pipeline, ns: Namespace, envelope: Envelope) -> None:
        live, _building = await generations(redis, projection)
        if ns.generation != live and next(applied) % every == 0:
            await look()
        await projection.apply(pipe, ns, envelope)

    return replace(projection, apply=apply)
