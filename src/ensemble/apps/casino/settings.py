"""Casino-Club's settings (`CASINO_*` in the environment or `.env`) and what a process opens
for it once (its settings, for now)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ensemble.apps.casino.actions.service import ActionRecorder
from ensemble.apps.casino.domain import INVITE_CODE_PATTERN
from ensemble.kernel.resources import AppResources, Process


class CasinoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASINO_", env_file=".env", extra="ignore")

    signup_coins: int = Field(
        default=1000, ge=0, description="coins granted to every new member at sign-up"
    )
    access_token_minutes: int = Field(
        default=30,
        gt=0,
        description="lifetime of a casino access token (never longer than the kernel's"
        " `ACCESS_TOKEN_MINUTES`, which revocations last for)",
    )
    invite_forever_code: str = Field(
        default="5858",
        pattern=INVITE_CODE_PATTERN,
        description="the invite code valid forever and never consumed",
    )


@dataclass(frozen=True)
class CasinoResources:
    settings: CasinoSettings
    actions: ActionRecorder = field(default_factory=ActionRecorder)
    """The process's group commit of `POST /api/actions`."""


@asynccontextmanager
async def _open(process: Process, settings: CasinoSettings) -> AsyncIterator[CasinoResources]:
    resources = CasinoResources(settings)
    try:
        yield resources
    finally:
        await resources.actions.wait_idle()


CASINO = AppResources("casino", CasinoSettings, _open)
CasinoDep = Annotated[CasinoResources, Depends(CASINO.dependency)]
