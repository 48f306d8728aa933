"""The hub's canary: a process whose subscription went deaf reports not ready on `/ready` and
resubscribes; once its canary comes back it is ready again and delivers again.

The fault is real: the hub talks to the session's Redis through a TCP proxy that partitions
(drops every byte both ways without closing, as a broken network leaves half-open
connections), then heals for new connections only. The server is a real uvicorn on this
test's loop (so `/ready` can ping the test database); every wait polls with a deadline.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from ensemble.kernel.db import Database
from ensemble.kernel.observability.health import router as health_router
from ensemble.kernel.realtime import Hub
from ensemble.settings import Settings
from tests.kernel.test_realtime import DEADLINE_S, PREFIX, TOKEN, ChannelApp, channel_router, member
from tests.partition import Partition, partitionable
from tests.polling import eventually
from tests.serving import uvicorn_serving

CANARY_S = 0.2


def ready_app(hub: Hub, database: Database, settings: Settings) -> FastAPI:
    """`/ready` and the hub's channel sockets, on this hub."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, object]]:
        async with hub:
            yield {"hub": hub, "database": database, "settings": settings}

    app = FastAPI(lifespan=lifespan)
    app.include_router(health_router)
    app.include_router(channel_router(ChannelApp(hub)))
    return app


async def pubsub_links(redis: Redis, hub: Hub) -> set[str]:
    """The ids of the hub's pub/sub connections, as Redis sees them."""
    clients = await redis.client_list(_type="pubsub")
    return {c["id"] for c in clients if c.get("name") == hub.name}


@asynccontextmanager
async def served_through(
    proxy: Partition, database: Database, settings: Settings
) -> AsyncIterator[tuple[Hub, str]]:
    hub = Hub(proxy.url, prefix=PREFIX, canary_interval=CANARY_S, canary_timeout=CANARY_S)
    async with uvicorn_serving(ready_app(hub, database, settings)) as base_url:
        yield hub, base_url


def socket_url(base_url: str, channel: str) -> str:
    query = urlencode({"member": "alice", "token": TOKEN})
    return f"ws{base_url.removeprefix('http')}/ws/channels/{channel}?{query}"


async def test_a_deaf_subscription_is_not_ready_until_the_hub_resubscribes(
    redis_url: str, redis: Redis, database: Database, settings: Settings
) -> None:
    async with (
        partitionable(redis_url) as proxy,
        served_through(proxy, database, settings) as (hub, base_url),
        httpx.AsyncClient(base_url=base_url) as http,
        member(socket_url(base_url, "canary-room")) as alice,
    ):
        assert (await http.get("/ready")).json() == {"status": "ready"}
        [deaf_link] = await pubsub_links(redis, hub)

        proxy.partition()
        answer = await eventually(lambda: http.get("/ready"), lambda r: r.status_code == 503)
        error = answer.json()["error"]
        assert error["code"] == "not_ready"
        assert "canary" in error["message"]
        assert hub.problem == error["message"]
        # still deaf while partitioned: not ready on every poll, however long
        assert (await http.get("/ready")).status_code == 503

        proxy.heal()
        await eventually(lambda: http.get("/ready"), lambda r: r.status_code == 200)
        assert hub.problem is None
        fresh = await eventually(
            lambda: pubsub_links(redis, hub), lambda links: bool(links) and deaf_link not in links
        )
        assert len(fresh) == 1, "one new pub/sub connection; the dead one was closed"

        # the channel with a local member is subscribed again: delivery is restored
        await redis.publish(PREFIX + "canary-room", json.dumps({"type": "after"}))
        assert await alice.next() == {"type": "after"}


async def test_a_healthy_hub_stays_ready_through_many_canaries(
    redis_url: str, redis: Redis, database: Database, settings: Settings
) -> None:
    async with (
        partitionable(redis_url) as proxy,
        served_through(proxy, database, settings) as (hub, base_url),
        httpx.AsyncClient(base_url=base_url) as http,
        redis.pubsub() as watcher,
    ):
        [link] = await pubsub_links(redis, hub)
        await watcher.subscribe(f"{PREFIX}_hub.canary:{hub.name}")
        seen = 0
        while seen < 5:  # the canaries the hub sends itself, seen from outside too
            message = await watcher.get_message(timeout=DEADLINE_S)
            assert message is not None, "no canary within the deadline"
            seen += message["type"] == "message"
            assert (await http.get("/ready")).status_code == 200
        assert await pubsub_links(redis, hub) == {link}, "never resubscribed"
