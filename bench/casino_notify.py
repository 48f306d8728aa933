"""Casino-Club live notifications: a campaign-like burst to N connected members.

Runs `ensemble serve --app casino --no-background` on the bench PostgreSQL and Redis, signs
up `--members` members and connects each once, half over SSE (`/api/notifications/stream`)
and half over the WebSocket (`/api/ws/notifications`). Then one notification to every
member is written as a campaign would (`notify` in transactions of `--batch` members,
published after each commit through this process's relay), and each member's delivery
latency (commit → frame received) is measured: p50/p99 against the target p99 < 2 s. The
baseline is raw Redis pub/sub: the same number of messages published on per-member channels
to pattern subscribers, no database, HTTP or auth.

`--soak MINUTES` instead keeps the members connected while notifications flow, cuts every
connection every minute and reconnects it with its last id (`Last-Event-ID` / `?after=`),
and checks at the end that each member received exactly its ids 1..n, in order (not run in
CI).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from websockets.asyncio.client import connect

from common import (
    Stats,
    casino_members,
    console,
    parser,
    positive,
    report,
    run,
    spawn_server,
    start_postgres,
    start_redis,
    stop_embedded,
    until_healthy,
)
from ensemble.apps.casino.domain import NotificationCategory
from ensemble.apps.casino.notifications import live
from ensemble.apps.casino.notifications.service import notify
from ensemble.kernel.bootstrap import migrate
from ensemble.kernel.db import Database
from lean_http import LeanClient

TARGET_P99_S = 2.0


def _subject(token: str) -> uuid.UUID:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return uuid.UUID(claims["sub"])


@dataclass
class Listener:
    """One member's connection: what it received (ids, arrival times), where it is."""

    token: str
    user_id: uuid.UUID
    over_sse: bool
    received: list[int] = field(default_factory=list)
    arrived: dict[int, float] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self, event: str, data: dict[str, object], position: int | None) -> None:
        if event in ("ready", "resync"):
            self.ready.set()
        if event == "notification" and position is not None:
            self.received.append(position)
            self.arrived[position] = time.perf_counter()

    @property
    def last(self) -> int | None:
        return self.received[-1] if self.received else None


async def _sse(base_url: str, listener: Listener, client: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {listener.token}"}
    if listener.last is not None:
        headers["Last-Event-ID"] = str(listener.last)
    async with client.stream("GET", f"{base_url}/api/notifications/stream", headers=headers) as r:
        fields: dict[str, str] = {}
        async for line in r.aiter_lines():
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif "event" in fields:
                position = int(fields["id"]) if "id" in fields else None
                listener.take(fields["event"], json.loads(fields["data"]), position)
                fields = {}


async def _ws(base_url: str, listener: Listener) -> None:
    after = f"&after={listener.last}" if listener.last is not None else ""
    url = f"ws{base_url.removeprefix('http')}/api/ws/notifications?token={listener.token}{after}"
    async with connect(url, max_queue=None) as socket:
        async for text in socket:
            frame = json.loads(text)
            listener.take(frame["type"], frame, frame.get("id"))


async def _listen(base_url: str, listener: Listener, client: httpx.AsyncClient) -> None:
    """Keep the member connected (reconnecting from its last id) until cancelled."""
    while True:
        try:
            if listener.over_sse:
                await _sse(base_url, listener, client)
            else:
                await _ws(base_url, listener)
        except (httpx.HTTPError, OSError, Exception):  # a cut: reconnect from the last id
            await asyncio.sleep(0.2)


@asynccontextmanager
async def connected(
    base_url: str, listeners: list[Listener]
) -> AsyncIterator[tuple[list[asyncio.Task[None]], httpx.AsyncClient]]:
    """Every listener connected (and its task), and the client the SSE ones use: open until
    the block ends, for reconnections too."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=None, limits=limits) as client:
        tasks = [asyncio.create_task(_listen(base_url, each, client)) for each in listeners]
        await asyncio.wait_for(asyncio.gather(*(each.ready.wait() for each in listeners)), 300)
        try:
            yield tasks, client
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _campaign(
    database: Database, listeners: list[Listener], batch: int, title: str
) -> dict[uuid.UUID, tuple[int, float]]:
    """One notification to each member, `batch` members a transaction: id and the instant
    its transaction began to commit (latency counts the commit and the publication)."""
    sent: dict[uuid.UUID, tuple[int, float]] = {}
    for first in range(0, len(listeners), batch):
        group = listeners[first : first + batch]
        async with database.unit_of_work() as session:
            ids = [
                (await notify(session, each.user_id, NotificationCategory.CAMPAIGN, title)).id
                for each in group
            ]
            committing = time.perf_counter()  # the commit, then the relay publishes
        for each, notification_id in zip(group, ids, strict=True):
            sent[each.user_id] = (notification_id, committing)
    return sent


async def _delivered(
    listeners: list[Listener], sent: dict[uuid.UUID, tuple[int, float]], within: float
) -> list[float]:
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        if all(sent[each.user_id][0] in each.arrived for each in listeners):
            break
        await asyncio.sleep(0.05)
    latencies = []
    for each in listeners:
        notification_id, committed = sent[each.user_id]
        if notification_id in each.arrived:
            latencies.append((each.arrived[notification_id] - committed) * 1000)
    return latencies


async def _redis_baseline(redis_url: str, members: int, subscribers: int) -> Stats:
    """`members` messages on per-member channels, each to `subscribers` pattern subscribers
    (as every server process gets every member's message): publish → receipt."""
    arrived: list[float] = []
    sent: dict[str, float] = {}
    redis = Redis.from_url(redis_url)
    pubsubs = [redis.pubsub() for _ in range(subscribers)]
    for pubsub in pubsubs:
        await pubsub.psubscribe("bench:notify:*")
        await pubsub.get_message(timeout=1)

    async def read(pubsub: PubSub) -> None:
        for _ in range(members):
            message = await pubsub.get_message(timeout=5)
            if message is None:
                return
            if message["type"] == "pmessage":
                arrived.append((time.perf_counter() - sent[message["channel"].decode()]) * 1000)

    readers = [asyncio.create_task(read(pubsub)) for pubsub in pubsubs]
    started = time.perf_counter()
    for index in range(members):
        key = f"bench:notify:{index}"
        sent[key] = time.perf_counter()
        await redis.publish(key, "{}")
    await asyncio.gather(*readers)
    wall = time.perf_counter() - started
    for pubsub in pubsubs:
        await pubsub.aclose()
    await redis.aclose()
    return Stats("baseline Redis pub/sub fan-out", arrived, wall, count=len(arrived))


async def _soak(
    database: Database,
    listeners: list[Listener],
    tasks: list[asyncio.Task[None]],
    client: httpx.AsyncClient,
    options: argparse.Namespace,
    base_url: str,
) -> int:
    chance = random.Random(options.seed)
    ends = time.perf_counter() + options.soak * 60
    cut_at = time.perf_counter() + 60
    sent: dict[uuid.UUID, int] = {each.user_id: 0 for each in listeners}
    while time.perf_counter() < ends:
        group = chance.sample(listeners, min(len(listeners), options.batch))
        async with database.unit_of_work() as session:
            for each in group:
                await notify(session, each.user_id, NotificationCategory.SYSTEM, "soak")
                sent[each.user_id] += 1
        if time.perf_counter() >= cut_at:
            console.print(f"cutting {len(tasks)} connections")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # the same client as before: one closed here would end every SSE listener
            tasks[:] = [asyncio.create_task(_listen(base_url, each, client)) for each in listeners]
            cut_at = time.perf_counter() + 60
        await asyncio.sleep(chance.uniform(0.05, 0.5))
    await asyncio.sleep(5)  # the last messages' delivery
    wrong = [e for e in listeners if e.received != list(range(1, sent[e.user_id] + 1))]
    console.print(f"soak: {sum(sent.values())} notifications, {len(wrong)} members off")
    return 1 if wrong else 0


async def main(options: argparse.Namespace) -> int:
    data_dir = options.data_dir.resolve()
    url, embedded = start_postgres(data_dir)
    redis_url, embedded_redis = start_redis(data_dir)
    database = Database(url, pool_size=4)
    await migrate(database.engine)
    minutes = str(max(30, options.soak * 2))
    env = {
        "REDIS_URL": redis_url,
        "WEB_WORKERS": str(options.workers),
        "ACCESS_TOKEN_MINUTES": minutes,
        "CASINO_ACCESS_TOKEN_MINUTES": minutes,
        "CASINO_NOTIFICATION_STREAM_SECONDS": "86400",
    }
    server = await until_healthy(
        spawn_server(url, data_dir, options.log_level, "casino", env, args=["--no-background"],
                     log_name="server-casino.log")
    )  # fmt: skip
    redis = Redis.from_url(redis_url)
    try:
        async with LeanClient(server.base_url, {}, 16) as client:
            with console.status(f"signing up {options.members} members"):
                tokens = await casino_members(client, options.members, 16)
        listeners = [
            Listener(token, _subject(token), over_sse=index % 2 == 0)
            for index, token in enumerate(tokens)
        ]
        async with live.opened(redis):
            with console.status(f"connecting {len(listeners)} members (SSE and WebSocket)"):
                async with connected(server.base_url, listeners) as (tasks, client):
                    if options.soak:
                        base_url = server.base_url
                        return await _soak(database, listeners, tasks, client, options, base_url)
                    started = time.perf_counter()
                    sent = await _campaign(database, listeners, options.batch, "campaign")
                    latencies = await _delivered(listeners, sent, 60)
                    wall = time.perf_counter() - started
        ours = Stats("ensemble notify → SSE/WS frame", latencies, wall, count=len(latencies))
        base = await _redis_baseline(redis_url, len(listeners), options.workers * 2)
        report("campaign burst delivery latency", [ours, base], throughput_unit="messages/s")
        lost = len(listeners) - len(latencies)
        p99_s = ours.p(99) / 1000
        passed = lost == 0 and p99_s < TARGET_P99_S
        console.print(
            f"{'[green]PASS[/]' if passed else '[red]MISS[/]'} {len(latencies)} of"
            f" {len(listeners)} delivered, p50 {ours.p(50) / 1000:.2f} s, p99 {p99_s:.2f} s"
            f" (target p99 < {TARGET_P99_S:g} s)"
        )
        return 0 if passed else 1
    finally:
        await redis.aclose()
        await database.dispose()
        server.stop()
        stop_embedded(embedded_redis, embedded, keep=options.keep_db)


if __name__ == "__main__":
    cli = parser(__doc__ or "", products=False)
    cli.add_argument("--members", type=positive, default=5000, help="connected members")
    cli.add_argument("--batch", type=positive, default=500, help="members a transaction")
    cli.add_argument("--soak", type=int, default=0, help="minutes of soak with cuts (0: burst)")
    run(main, cli.parse_args())
