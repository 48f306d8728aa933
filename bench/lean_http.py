"""A keep-alive HTTP/1.1 load client that costs a few microseconds per request.

On a 2-core machine the load generator shares the cores with the servers it measures:
`httpx` spends several times the CPU of the request it times, which caps every series and
hides any scaling across server processes. This client writes each request as one buffer and
reads a `Content-Length` response on a persistent connection, nothing more (no redirects, no
chunked bodies, no TLS); the servers benchmarked here answer every request that way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class LeanResponse:
    status_code: int
    headers: Mapping[str, str]  # lower-case names
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> LeanResponse:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise RuntimeError(f"response without Content-Length: {status_line}")
        content = await self.reader.readexactly(int(headers["content-length"]))
        return LeanResponse(int(status_line.split(" ", 2)[1]), headers, content)


class LeanClient:
    """`connections` persistent connections to `base_url`, each used by one request at a time."""

    def __init__(self, base_url: str, headers: Mapping[str, str], connections: int) -> None:
        url = urlsplit(base_url)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        fixed = {"Host": f"{self._host}:{self._port}", **headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode()
        self._size = connections
        self._idle: asyncio.Queue[_Connection] = asyncio.Queue()
        self._all: list[_Connection] = []

    async def __aenter__(self) -> LeanClient:
        for _ in range(self._size):
            connection = _Connection(*await asyncio.open_connection(self._host, self._port))
            self._all.append(connection)
            self._idle.put_nowait(connection)
        return self

    async def __aexit__(self, *_: object) -> None:
        for connection in self._all:
            connection.writer.close()

    async def request(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> LeanResponse:
        """One request; `headers` are sent besides the client's own."""
        payload = b"" if body is None else json.dumps(body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed + extra
        if body is not None:
            head += b"Content-Type: application/json\r\n"
        request = head + b"Content-Length: %d\r\n\r\n" % len(payload) + payload
        connection = await self._idle.get()
        try:
            return await connection.exchange(request)
        finally:
            self._idle.put_nowait(connection)

    async def get(self, path: str) -> LeanResponse:
        return await self.request("GET", path)

    async def post(self, path: str, json: Any) -> LeanResponse:
        return await self.request("POST", path, json)
