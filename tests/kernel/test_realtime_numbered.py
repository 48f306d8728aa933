"""Numbered channels: `Publisher.publish_numbered` from several processes gives every
subscriber 1..N in order, delivered unchanged by the hub; a joining socket's greeting (its
snapshot) comes before anything published while it was read."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import connect

from ensemble.kernel.realtime import Hub, Publisher
from tests.kernel.test_realtime import (
    DEADLINE_S,
    PREFIX,
    ChannelApp,
    Served,
    build_app,
    member,
    served_in_thread,
)
from tests.serving import uvicorn_serving

PER_PUBLISHER = 60


@pytest.fixture(scope="module")
def servers(redis_url: str) -> Iterator[tuple[Served, Served]]:
    with ExitStack() as stack:
        one, two = (
            stack.enter_context(served_in_thread(Hub(redis_url, prefix=PREFIX))) for _ in range(2)
        )
        yield one, two


async def test_two_publishers_interleaving_give_every_subscriber_one_to_n_in_order(
    servers: tuple[Served, Served], redis_url: str
) -> None:
    one, two = servers
    channel = f"numbered-{uuid.uuid4().hex}"
    async with (
        Publisher(redis_url, prefix=PREFIX) as first,
        Publisher(redis_url, prefix=PREFIX) as second,
        member(one.url(channel, member="alice")) as alice,
        member(two.url(channel, member="bob")) as bob,
        member(two.url(channel, member="carol")) as carol,
    ):
        assert await first.last_number(channel) == 0

        async def publish(by: Publisher, name: str, i: int) -> tuple[int, dict[str, Any]]:
            payload = {"type": "numbered", "by": name, "i": i, "text": 'a "quoted" ü'}
            return await by.publish_numbered(channel, payload), payload

        sent = await asyncio.gather(
            *(
                publish(by, name, i)
                for i in range(PER_PUBLISHER)
                for by, name in ((first, "first"), (second, "second"))
            )
        )
        total = 2 * PER_PUBLISHER
        assert sorted(number for number, _ in sent) == list(range(1, total + 1))
        expected = [{"seq": n, **payload} for n, payload in sorted(sent, key=lambda s: s[0])]
        for client in (alice, bob, carol):
            assert [await client.next() for _ in range(total)] == expected
        assert await second.last_number(channel) == total


async def test_a_numbered_message_is_a_json_object(redis_url: str) -> None:
    async with Publisher(redis_url, prefix=PREFIX) as publisher:
        refused: tuple[Any, ...] = ({}, [])
        for payload in refused:
            with pytest.raises(ValueError, match="non-empty JSON object"):
                await publisher.publish_numbered("refused", payload)
        assert await publisher.last_number("refused") == 0


# The greeting


def greeted_app(hub: Hub, redis_url: str) -> FastAPI:
    """A socket whose greeting publishes to its own channel while it is being read, as
    another process may publish between a join and its snapshot."""
    app = build_app(ChannelApp(hub))

    @app.websocket("/ws/greeted/{channel}")
    async def greeted(websocket: WebSocket, channel: str) -> None:
        async def greeting() -> dict[str, Any]:
            async with Publisher(redis_url, prefix=PREFIX) as publisher:
                number = await publisher.publish_numbered(channel, {"type": "meanwhile"})
            return {"type": "snapshot", "seq": number}

        async with hub.connection(channel, websocket, "someone", greeting=greeting) as joined:
            async for _ in joined.messages():
                pass

    return app


async def test_the_greeting_comes_before_what_was_published_while_it_was_read(
    redis_url: str,
) -> None:
    hub = Hub(redis_url, prefix=PREFIX)
    channel = f"greeted-{uuid.uuid4().hex}"
    async with uvicorn_serving(greeted_app(hub, redis_url)) as base_url:
        url = f"ws{base_url.removeprefix('http')}/ws/greeted/{channel}"
        async with connect(url) as socket:
            async with asyncio.timeout(DEADLINE_S):
                first, second = [json.loads(await socket.recv()) for _ in range(2)]
    assert first == {"type": "snapshot", "seq": 1}
    assert second == {"seq": 1, "type": "meanwhile"}
