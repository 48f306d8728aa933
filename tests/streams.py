"""Request bodies streamed chunk by chunk that count how much of them the server took."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

CHUNK = 64 * 1024


@dataclass
class CountedBody:
    """`total` bytes in chunks of `CHUNK`, produced only as the server reads them (sent
    chunked unless the request declares a Content-Length)."""

    total: int
    pulled: int = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            size = min(CHUNK, self.total - self.pulled)
            self.pulled += size
            yield b"x" * size
