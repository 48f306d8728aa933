"""The product apps. Each is a package exposing `app: AppModule`; none imports another."""

from __future__ import annotations

import importlib

from ensemble.kernel.modules import AppModule

APP_NAMES: tuple[str, ...] = ("stock", "b0", "eco", "focus", "casino")


def load_app(name: str) -> AppModule:
    if name not in APP_NAMES:
        raise ValueError(f"unknown app {name!r}; known: {', '.join(APP_NAMES)}")
    module: AppModule = importlib.import_module(f"ensemble.apps.{name}").app
    return module


def load_apps(names: tuple[str, ...] | None = None) -> list[AppModule]:
    return [load_app(name) for name in (names or APP_NAMES)]
