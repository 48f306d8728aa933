"""A real network fault between a process and Redis: a TCP proxy that can stop forwarding
without closing anything, as a partition leaves half-open connections behind.

While partitioned, every link through the proxy (open or opened meanwhile) reads and drops
what either side sends, so neither side sees an error. `heal()` lets new links through; the
links that were open during the partition stay dead, as real half-open connections do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

_CHUNK = 65536


@dataclass
class _Link:
    dead: bool = False


@dataclass
class Partition:
    """A proxy to `upstream` (a `redis://` URL); `url` is the same URL through the proxy."""

    upstream: str
    url: str = ""
    partitioned: bool = False
    _links: list[_Link] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def partition(self) -> None:
        self.partitioned = True
        for link in self._links:
            link.dead = True

    def heal(self) -> None:
        self.partitioned = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parts = urlsplit(self.upstream)
        upstream_reader, upstream_writer = await asyncio.open_connection(parts.hostname, parts.port)
        link = _Link(dead=self.partitioned)
        self._links.append(link)
        await asyncio.gather(
            self._pump(reader, upstream_writer, link),
            self._pump(upstream_reader, writer, link),
        )

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(_CHUNK):
                if not link.dead:
                    sink.write(data)
                    await sink.drain()
        sink.close()

    def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@contextlib.asynccontextmanager
async def partitionable(upstream: str) -> AsyncIterator[Partition]:
    """A `Partition` proxy to `upstream`, serving until the block ends."""
    proxy = Partition(upstream)
    server = await asyncio.start_server(proxy._track, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    parts = urlsplit(upstream)
    proxy.url = urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))
    try:
        yield proxy
    finally:
        server.close()
        for task in list(proxy._tasks):
            task.cancel()
        await asyncio.gather(*proxy._tasks, return_exceptions=True)
        await server.wait_closed()
