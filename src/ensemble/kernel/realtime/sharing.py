"""Reads shared by the callers that arrive together: one channel's snapshot for a thousand
sockets joining at once is read a few times, not a thousand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SharedReads(Generic[T]):
    """Reads by key, shared by the callers that arrive together.

    A caller always gets a read that started after it called, never one already under way
    (so a snapshot shared by sockets is still read after each of them joined). Reads of one
    key run one at a time; the callers that arrive while one runs share the next one, made
    with the first of them's `read`. A read that fails fails each of its callers; a caller
    that is cancelled leaves the read to the others."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[T]] = {}
        self._last: dict[str, asyncio.Task[None]] = {}  # each key's latest read
        self._tasks: set[asyncio.Task[None]] = set()

    async def read(self, key: str, read: Callable[[], Awaitable[T]]) -> T:
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = asyncio.get_running_loop().create_future()
            waiting.add_done_callback(_retrieved)
            after = self._last.get(key)
            task = asyncio.create_task(self._run(key, waiting, read, after), name=f"read:{key}")
            self._last[key] = task
            self._tasks.add(task)
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(waiting)

    def queued(self, key: str) -> bool:
        """Whether callers wait for a read of `key` that has not started yet."""
        return key in self._waiting

    async def _run(
        self,
        key: str,
        waiting: asyncio.Future[T],
        read: Callable[[], Awaitable[T]],
        after: asyncio.Task[None] | None,
    ) -> None:
        if after is not None:
            await asyncio.wait({after})
        del self._waiting[key]  # whoever calls from here on waits for the next read
        try:
            waiting.set_result(await read())
        except asyncio.CancelledError:
            waiting.cancel()
            raise
        except Exception as exc:
            waiting.set_exception(exc)

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last.get(key) is task:
            del self._last[key]

    async def close(self) -> None:
        """Cancel the reads under way or waiting (their callers are cancelled)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for waiting in self._waiting.values():
            waiting.cancel()
        self._waiting.clear()


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a failure as seen: every caller of the read may have been cancelled."""
    if not future.cancelled():
        future.exception()
