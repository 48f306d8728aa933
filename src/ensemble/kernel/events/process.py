"""`ensemble consume`: the apps' event consumers and read-model projections in one process.

Any number of these processes may run: each joins every consumer group under its own
member name, so the groups' messages are shared between them and a dead process's
messages are reclaimed by the others (see `ConsumerRunner`; on Kafka, the group's
partitions are shared and a dead member's are reassigned).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from redis.asyncio import Redis

from ensemble.kernel.db import Database
from ensemble.kernel.events.bus import event_bus
from ensemble.kernel.events.projection import projection_consumer
from ensemble.kernel.events.runner import run_consumers
from ensemble.kernel.heartbeat import heartbeat
from ensemble.kernel.lifecycle import run_until_signalled
from ensemble.kernel.modules import AppModule, consumers_of, projections_of, resources_of
from ensemble.kernel.observability.tracing import configure_tracing
from ensemble.kernel.resources import Process, bind, open_resources
from ensemble.kernel.warmup import open_connections, run_warmers
from ensemble.settings import Settings

logger = logging.getLogger(__name__)


async def consume(settings: Settings, modules: Sequence[AppModule], stop: asyncio.Event) -> None:
    """Run the `modules`' consumers and the live side of their projections until `stop` is
    set, on the event bus `settings` select, with the apps' resources and the database
    connections open before the first event."""
    assert settings.database_url is not None
    assert settings.redis_url is not None
    database = Database(settings.database_url, pool_size=5)
    redis = Redis.from_url(settings.redis_url)
    every = [
        *consumers_of(modules),
        *(projection_consumer(each, redis) for each in projections_of(modules)),
    ]
    run_warmers(())  # the ORM's mappers: configured now, not on the first event
    await open_connections(database)
    try:
        async with open_resources(resources_of(modules), Process(settings, redis)) as opened:
            with bind(opened):
                await run_consumers(
                    database,
                    redis,
                    every,
                    stop,
                    bus=event_bus(settings, redis),
                    claim_idle_ms=settings.events_claim_idle_ms,
                )
    finally:
        await redis.aclose()
        await database.dispose()


def serve_consumers(settings: Settings, modules: Sequence[AppModule]) -> None:
    """Consume until SIGTERM/SIGINT."""
    configure_tracing(settings, "consume")
    consumers, projections = consumers_of(modules), projections_of(modules)
    names = sorted([each.name for each in consumers] + [p.consumer_name for p in projections])
    logger.info("consuming events as %s", names)
    with heartbeat(settings, "consume"):
        run_until_signalled(lambda stop: consume(settings, modules, stop))
