"""What each app opens once per process (its settings, clients, caches) and how its
endpoints, jobs and consumers reach it.

An app declares `AppModule.resources`: an `AppResources` naming its settings class (read
from the environment with the app's prefix) and a function that opens the app's resources
from them and the process's `Process` (the kernel's settings and the process's one Redis
pool). The API lifespan, the job worker and the consume process each open every app's
resources at start (`open_resources`) and close them at exit. Endpoints reach them through
`AppResources.dependency` (the lifespan's state), jobs and consumers through
`AppResources.current()` (bound with `bind` around each job and over the consume process),
as the kernel's jobs reach the process's settings and Redis (`current_process()`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
)
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from pydantic_settings import BaseSettings
from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from ensemble.kernel.realtime.publisher import Publisher
from ensemble.settings import Settings

S = TypeVar("S", bound=BaseSettings)
R = TypeVar("R")


@dataclass(frozen=True)
class Process:
    """What a process holds for every app: the kernel's settings and its one Redis pool."""

    settings: Settings
    redis: Redis | None = None

    def publisher(self) -> Publisher | None:
        """A hub publisher on the process's Redis (None without one)."""
        return Publisher(self.redis) if self.redis is not None else None


@dataclass(frozen=True)
class Opened:
    """What a process opened: its `Process`, and every app's resources by app name."""

    process: Process
    apps: Mapping[str, object]


_opened: ContextVar[Opened] = ContextVar("ensemble_resources")


def _current() -> Opened:
    opened = _opened.get(None)
    if opened is None:
        raise RuntimeError("no process resources are bound in this context")
    return opened


def current_process() -> Process:
    """The process's settings and Redis pool (in a job or a consumer)."""
    return _current().process


class AppResources(Generic[S, R]):
    """An app's settings class and how its resources are opened from them."""

    def __init__(
        self,
        name: str,
        settings: type[S],
        opener: Callable[[Process, S], AbstractAsyncContextManager[R]],
    ) -> None:
        self.name, self.settings, self._opener = name, settings, opener

    def open(
        self, process: Process, settings: BaseSettings | None = None
    ) -> AbstractAsyncContextManager[R]:
        """The resources from `settings` (default: the app's environment)."""
        if settings is not None and not isinstance(settings, self.settings):
            raise TypeError(f"{self.name} takes {self.settings.__name__}, not {settings!r}")
        return self._opener(process, settings or self.settings())

    def current(self) -> R:
        """The resources opened by this process (in a job or a consumer)."""
        opened = _current().apps
        if self.name not in opened:
            raise RuntimeError(f"{self.name}'s resources are not open in this process")
        return cast(R, opened[self.name])

    def of(self, connection: HTTPConnection) -> R:
        """The resources the API's lifespan opened, for the request or socket `connection`."""
        opened: Opened = connection.state.resources
        return cast(R, opened.apps[self.name])

    async def dependency(self, connection: HTTPConnection) -> R:
        """`of`, as a FastAPI dependency (`async`: FastAPI runs a plain function in a worker
        thread, a hop that cost more than the lookup)."""
        return self.of(connection)


@asynccontextmanager
async def open_resources(
    every: Iterable[AppResources[Any, Any]],
    process: Process,
    settings: Mapping[str, BaseSettings] | None = None,
) -> AsyncIterator[Opened]:
    """Open every app's resources (with the app settings given by name, else from the
    environment); all are closed on exit, the last opened first."""
    given = settings or {}
    async with AsyncExitStack() as stack:
        opened: dict[str, object] = {}
        for each in every:
            opened[each.name] = await stack.enter_async_context(
                each.open(process, given.get(each.name))
            )
        yield Opened(process, opened)


@contextmanager
def bind(opened: Opened) -> Iterator[None]:
    """Make `opened` what `AppResources.current()` answers in this context."""
    token = _opened.set(opened)
    try:
        yield
    finally:
        _opened.reset(token)
