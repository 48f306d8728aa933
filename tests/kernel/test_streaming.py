"""Streamed bodies: which `Accept-Encoding` headers allow gzip, and gzip chunk by chunk."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import pytest

from ensemble.kernel.streaming import accepts_gzip, gzipped, started


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, GZIP;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        (None, False),
        ("", False),
        ("identity", False),
        ("br, deflate", False),
        ("gzip;q=0", False),
        ("gzip; q=0.0, identity", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accepts_gzip(header: str | None, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_gzipped_chunks_are_one_gzip_stream() -> None:
    lines = [b'{"n": %d}\n' % n for n in range(10_000)]
    body = b"".join([chunk async for chunk in gzipped(_chunks(*lines))])
    assert gzip.decompress(body) == b"".join(lines)


async def test_started_produces_the_first_chunk_at_once() -> None:
    produced: list[int] = []

    async def counted() -> AsyncIterator[bytes]:
        for n in range(3):
            produced.append(n)
            yield b"%d" % n

    body = await started(counted())
    assert produced == [0]
    assert [chunk async for chunk in body] == [b"0", b"1", b"2"]
    assert [chunk async for chunk in await started(_chunks())] == []
