"""Every dependency of every route is a coroutine function: FastAPI runs a plain function in
a worker thread, and that hop costs more CPU than the lookups our dependencies do
(decision 31)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from starlette.routing import BaseRoute, Mount

from ensemble.apps import load_apps
from ensemble.server import create_app
from ensemble.settings import Settings


def _served(routes: list[BaseRoute]) -> Iterator[Any]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _served(route.routes)
        elif hasattr(route, "dependant"):
            yield route


def _awaited(call: Any) -> bool:
    return any(
        inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)
        for target in (call, getattr(call, "__call__", None))  # noqa: B004 - instances too
    )


def _plain(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        if dependency.call is not None and not _awaited(dependency.call):
            yield f"{dependency.call.__module__}.{dependency.call.__qualname__}"
        yield from _plain(dependency)


def test_no_route_depends_on_a_plain_function() -> None:
    app = create_app(load_apps(), Settings())
    routes = list(_served(app.routes))
    assert len(routes) > 200, "every app's routes were found"
    plain = {(route.path, name) for route in routes for name in _plain(route.dependant)}
    assert plain == set()
