"""Chat fan-out: one channel, 100 WebSocket members spread over 2 server processes.

Each server is a real uvicorn process serving a small app on the kernel's realtime `Hub`
(the same join/publish path a room chat uses): a member's message goes client → its server
→ Redis PUBLISH → every server subscribed to the channel → each local socket. One member
sends `--messages` messages, one every `--interval-ms`; each carries its send time, and
every member (the sender included) records the delivery latency on arrival. All clients
live in this process, so their clocks agree.

The baseline, measured in the same run on the same Redis: a raw redis-py PUBLISH to one
subscriber, i.e. the Redis pub/sub round trip alone. Target: delivery p99 < 50 ms.

    python bench/chat_fanout.py              # 100 members, 2 servers, 200 messages
    REDIS_URL=redis://host:6379/0 python bench/chat_fanout.py --members 200 --servers 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, WebSocket
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from common import (
    DEFAULT_DATA_DIR,
    HEALTH_DEADLINE_S,
    REPO_ROOT,
    Server,
    Stats,
    check_machine,
    console,
    free_port,
    positive,
    process_cpu_s,
    report,
    run,
    start_redis,
    verdict,
)
from ensemble.kernel.errors import Unauthorized
from ensemble.kernel.realtime import Hub, authenticate

TARGET_P99_MS = 50.0
CHANNEL = "bench:chat"
TOKEN_ENV = "CHAT_BENCH_TOKEN"
DELIVERY_DEADLINE_S = 30.0


# The server side (imported by uvicorn in each server process: `chat_fanout:create_app`)


def create_app() -> FastAPI:
    """A channel socket on the kernel hub: every client message is published as is."""
    hub = Hub(os.environ["REDIS_URL"], prefix="bench:realtime:")
    token = os.environ[TOKEN_ENV]

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with hub:
            yield

    app = FastAPI(lifespan=lifespan)

    async def check(candidate: str) -> str:
        if candidate != token:
            raise Unauthorized(code="invalid_token")
        return "member"

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws/channels/{channel}")
    async def channel_socket(websocket: WebSocket, channel: str) -> None:
        member = await authenticate(websocket, check)
        if member is None:
            return
        async with hub.connection(channel, websocket, member) as connection:
            connection.send({"type": "joined"})
            async for message in connection.messages():
                await hub.publish(channel, message)

    return app


# Infrastructure


@contextlib.contextmanager
def redis_server(data_dir: Path, keep: bool) -> Iterator[str]:
    """`REDIS_URL`, or an embedded Redis in `<data-dir>/redis` (stopped at the end if started
    here, unless `keep`)."""
    url, embedded = start_redis(data_dir)
    try:
        yield url
    finally:
        if embedded is not None and not keep:
            embedded.stop()


def spawn_chat_server(redis_url: str, token: str, data_dir: Path, index: int) -> Server:
    port = free_port()
    log_path = data_dir / f"chat-server-{index}.log"
    log = log_path.open("wb")
    command = [
        sys.executable, "-m", "uvicorn", "chat_fanout:create_app", "--factory",
        "--app-dir", str(Path(__file__).parent), "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    env = {**os.environ, "REDIS_URL": redis_url, TOKEN_ENV: token}
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
    )
    return Server(process, f"http://127.0.0.1:{port}", log_path, log)


async def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + HEALTH_DEADLINE_S
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"a chat server exited early; see {server.log_path}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/health")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"no /health within {HEALTH_DEADLINE_S:.0f} s")
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def chat_servers(
    redis_url: str, token: str, options: argparse.Namespace
) -> AsyncIterator[list[Server]]:
    data_dir: Path = options.data_dir
    servers = [spawn_chat_server(redis_url, token, data_dir, i) for i in range(options.servers)]
    try:
        with console.status(f"waiting for {len(servers)} chat servers"):
            await asyncio.gather(*(wait_healthy(s) for s in servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


# Members


@dataclass
class Deliveries:
    """Per-recipient latencies of the measured messages, and a count to wait on."""

    expected: int
    warmup: int
    samples: dict[int, list[float]] = field(default_factory=dict)  # by server index
    received: int = 0
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, server: int, message: dict[str, Any], arrived: float) -> None:
        if message.get("seq", -1) < self.warmup:
            return
        self.samples.setdefault(server, []).append((arrived - message["sent_at"]) * 1000)
        self.received += 1
        if self.received >= self.expected:
            self.complete.set()


async def listen(connection: ClientConnection, server: int, deliveries: Deliveries) -> None:
    """Record every chat message; answer the hub's pings."""
    with contextlib.suppress(ConnectionClosed):
        async for frame in connection:
            arrived = time.perf_counter()
            message = json.loads(frame)
            if message.get("type") == "ping":
                await connection.send('{"type":"pong"}')
            elif "sent_at" in message:
                deliveries.record(server, message, arrived)


async def join(url: str) -> ClientConnection:
    connection = await connect(url, open_timeout=HEALTH_DEADLINE_S, max_queue=None)
    joined = json.loads(await connection.recv())
    if joined.get("type") != "joined":
        raise RuntimeError(f"unexpected first message {joined}")
    return connection


async def through_hub(
    servers: list[Server], token: str, options: argparse.Namespace
) -> tuple[Deliveries, float]:
    """Join the members (round robin over the servers), then member 0 sends; the wall time."""
    urls = [
        f"{s.base_url.replace('http', 'ws', 1)}/ws/channels/{CHANNEL}?token={token}"
        for s in servers
    ]
    connections = await asyncio.gather(*(join(urls[i % len(urls)]) for i in range(options.members)))
    deliveries = Deliveries(expected=options.members * options.messages, warmup=options.warmup)
    listeners = [
        asyncio.create_task(listen(c, i % len(urls), deliveries)) for i, c in enumerate(connections)
    ]
    try:
        started = time.perf_counter()
        await send_paced(connections[0], options)
        async with asyncio.timeout(DELIVERY_DEADLINE_S):
            await deliveries.complete.wait()
        return deliveries, time.perf_counter() - started
    finally:
        await asyncio.gather(*(c.close() for c in connections))
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)


async def send_paced(sender: ClientConnection, options: argparse.Namespace) -> None:
    interval = options.interval_ms / 1000
    start = time.perf_counter()
    for seq in range(options.warmup + options.messages):
        delay = start + seq * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        body = {"type": "said", "seq": seq, "sent_at": time.perf_counter(), "body": "hello"}
        await sender.send(json.dumps(body))


# Baseline


async def raw_redis(redis_url: str, options: argparse.Namespace) -> Stats:
    """PUBLISH → one subscriber, on the same Redis and at the same pace."""
    client = Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    key = "bench:raw-pubsub"
    await pubsub.subscribe(key)
    samples: list[float] = []
    total = options.warmup + options.messages
    interval = options.interval_ms / 1000
    try:
        started = time.perf_counter()
        for seq in range(total):
            delay = started + seq * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            await client.publish(key, json.dumps({"seq": seq, "sent_at": sent}))
            while (message := await pubsub.get_message(timeout=DELIVERY_DEADLINE_S)) is None:
                pass
            if seq >= options.warmup:
                samples.append(
                    (time.perf_counter() - json.loads(message["data"])["sent_at"]) * 1000
                )
        return Stats("baseline raw Redis pub/sub", samples, time.perf_counter() - started)
    finally:
        await pubsub.aclose()
        await client.aclose()


# Main


async def main(options: argparse.Namespace) -> int:
    options.data_dir = options.data_dir.resolve()
    options.data_dir.mkdir(parents=True, exist_ok=True)
    check_machine()
    token = os.urandom(16).hex()
    with redis_server(options.data_dir, options.keep_redis) as redis_url:
        base = await raw_redis(redis_url, options)
        async with chat_servers(redis_url, token, options) as servers:
            cpu_before = [process_cpu_s(s.process.pid) for s in servers]
            deliveries, wall = await through_hub(servers, token, options)
            cpu_after = [process_cpu_s(s.process.pid) for s in servers]
    everyone = [ms for samples in deliveries.samples.values() for ms in samples]
    ours = Stats("ensemble delivery, every member", everyone, wall)
    per_server = [
        Stats(f"  members on server {i}{' (sender)' if i == 0 else ''}", samples)
        for i, samples in sorted(deliveries.samples.items())
    ]
    report(
        f"chat fan-out: {options.messages} messages to {options.members} members on"
        f" {options.servers} servers, one every {options.interval_ms:g} ms",
        [ours, *per_server, base],
        ratio=(ours, base),
        throughput_unit="deliveries/s",
    )
    report_cpu(cpu_before, cpu_after, options.warmup + options.messages)
    ok = verdict("chat delivery p99 (every member)", ours.p(99), TARGET_P99_MS)
    return 0 if ok else 1


def report_cpu(before: list[float | None], after: list[float | None], messages: int) -> None:
    for index, (start, end) in enumerate(zip(before, after, strict=True)):
        if start is not None and end is not None:
            console.print(
                f"server {index}: {(end - start) / messages * 1000:.2f} ms of CPU per message"
                " (user + system, joins included)"
            )


def options_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else "chat fan-out",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--members", type=positive, default=100, help="WebSocket members")
    p.add_argument("--servers", type=positive, default=2, help="server processes")
    p.add_argument("--messages", type=positive, default=200, help="measured messages")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured messages first")
    p.add_argument("--interval-ms", type=float, default=20.0, help="time between messages")
    p.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="embedded Redis and server logs"
    )
    p.add_argument(
        "--keep-redis", action="store_true", help="leave the embedded Redis running afterwards"
    )
    return p


if __name__ == "__main__":
    run(main, options_parser().parse_args())
