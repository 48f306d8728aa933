"""Waiting for asynchronous outcomes without sleeping blindly: poll with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    timeout: float = 15.0,  # noqa: ASYNC109 - a deadline, not a cancellation scope
    interval: float = 0.05,
) -> T:
    """Call `probe` until `until(result)` holds; fail with the last result at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout}s; last: {result!r}")
        await asyncio.sleep(interval)


def polled(
    probe: Callable[[], T],
    until: Callable[[T], bool],
    *,
    timeout: float = 15.0,
    interval: float = 0.05,
    explain: Callable[[T], str] = repr,
) -> T:
    """`eventually` for a synchronous probe (a browser page's state, a file another process
    writes): there is no event to wait on, so poll it until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout}s; {explain(result)}")
        time.sleep(interval)
