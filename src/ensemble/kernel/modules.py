"""What an app hands to the kernel: its name, routers and admin commands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import typer
from fastapi import APIRouter


@dataclass(frozen=True)
class AppModule:
    name: str
    title: str
    description: str
    routers: Sequence[APIRouter]
    cli: typer.Typer | None = None
    tags: Sequence[dict[str, str]] = field(default_factory=tuple)
