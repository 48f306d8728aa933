"""Casino-Club's settings (`CASINO_*` in the environment or `.env`) and what a process opens
for it once (its settings, for now)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis

from ensemble.apps.casino.actions.service import ActionRecorder
from ensemble.apps.casino.domain import INVITE_CODE_PATTERN
from ensemble.apps.casino.notifications import live
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
    # shop (A6)
    payment_provider: Literal["sandbox"] = Field(
        default="sandbox", description="the payment provider money-priced purchases go through"
    )
    payment_webhook_secret: SecretStr = Field(
        default=SecretStr("sandbox-webhook-secret"),
        description="the HMAC-SHA256 key of payment webhooks' signatures (never logged)",
    )
    payment_webhook_tolerance_seconds: int = Field(
        default=300,
        gt=0,
        description="how old (or early) a signed webhook may be: the replay window",
    )
    payment_pending_minutes: int = Field(
        default=30,
        gt=0,
        description="how long a money-priced purchase may wait in `pending` before the sweep"
        " asks the provider and settles it",
    )
    shop_sweep_seconds: int = Field(
        default=60, gt=0, description="how often the sweep of stuck payments runs"
    )
    slot_min_bet: int = Field(default=1, gt=0, description="the smallest slot bet, in coins")
    slot_max_bet: int = Field(default=10_000, gt=0, description="the largest slot bet, in coins")
    gacha_rate_notice_minutes: int = Field(
        default=1440,
        ge=0,
        description="how long before it applies a new gacha rate table must be published",
    )
    # age-gated unlock (B5)
    unlock_enabled: bool = Field(
        default=False,
        description="whether the age-gated content unlock (`/api/unlock*`) is available",
    )
    age_verification_provider: Literal["sandbox"] = Field(
        default="sandbox", description="who verifies members' age for the unlock"
    )
    # segments (B1)
    rfm_every_minutes: int = Field(
        default=60, gt=0, description="how often the incremental RFM run classifies members"
    )
    rfm_window_days: int = Field(
        default=30, gt=0, le=366, description="the rolling window of frequency and monetary"
    )
    rfm_recency_days: tuple[int, int, int, int] = Field(
        default=(1, 3, 7, 14),
        description="recency cuts: r is 5 for a member active at most the first many days ago,"
        " one less past each cut",
    )
    rfm_frequency_days: tuple[int, int, int, int] = Field(
        default=(2, 4, 8, 15), description="frequency cuts: active days in the window for f 2-5"
    )
    rfm_monetary_cents: tuple[int, int, int, int] = Field(
        default=(500, 2_000, 10_000, 50_000),
        description="monetary cuts: money spent in the window (cents) for m 2-5 (any is m 1)",
    )
    # campaigns (B6)
    campaign_sweep_seconds: int = Field(
        default=60, gt=0, description="how often due campaigns nobody sent yet are swept"
    )
    # VIP tiers (B3)
    vip_review_seconds: int = Field(
        default=3600, gt=0, description="how often members whose VIP period ended are reviewed"
    )
    # notifications (B4)
    notification_retention_days: int = Field(
        default=90,
        gt=0,
        description="how long notifications are kept; a stream resuming from an older one gets"
        " a `resync`",
    )
    notification_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="the period of the live streams' heartbeats"
    )
    notification_stream_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="how long one SSE stream lasts before the server ends it (the client"
        " reconnects with `Last-Event-ID`, losing nothing)",
    )
    notification_adapter: Literal["log"] = Field(
        default="log", description="the e-mail and push adapters (`log`: one masked log line)"
    )


@dataclass(frozen=True)
class CasinoResources:
    settings: CasinoSettings
    redis: Redis | None = None
    """The process's Redis (leaderboards), if it has one."""
    actions: ActionRecorder = field(default_factory=ActionRecorder)
    """The process's group commit of `POST /api/actions`."""
    notifications: live.Relay | None = None
    """The process's live notifications (publishing and listening), if it has Redis."""


@asynccontextmanager
async def _open(process: Process, settings: CasinoSettings) -> AsyncIterator[CasinoResources]:
    async with live.opened(process.redis) as relay:
        resources = CasinoResources(settings, process.redis, notifications=relay)
        try:
            yield resources
        finally:
            await resources.actions.wait_idle()


CASINO = AppResources("casino", CasinoSettings, _open)
CasinoDep = Annotated[CasinoResources, Depends(CASINO.dependency)]
