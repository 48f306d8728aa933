"""Focus Mate's settings (`FOCUS_*` in the environment or `.env`) and what a process opens for
it once: a publisher on the process's Redis, for jobs that tell rooms about timer changes,
the process's part of room presence, and the notification channels' adapters
(`FOCUS_EMAIL_ADAPTER=log|smtp`, `FOCUS_PUSH_ADAPTER=log|remote`; passwords and tokens are
`SecretStr`s, never logged)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import Depends
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ensemble.apps.focus.domain import Channel
from ensemble.apps.focus.notifications.channels import Notifier, open_notifiers
from ensemble.kernel.realtime import Publisher
from ensemble.kernel.resources import AppResources, Process

if TYPE_CHECKING:  # presence reads rooms and timers, whose services take these resources
    from ensemble.apps.focus.live.presence import Presence, Timing


class FocusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOCUS_", env_file=".env", extra="ignore")

    empty_room_pause_minutes: float = Field(
        default=10, gt=0, description="an empty room's running timer pauses after this long"
    )
    archive_after_days: float = Field(
        default=30, gt=0, description="a room idle this long is archived"
    )
    reconnect_grace_seconds: float = Field(
        default=30,
        ge=0,
        description="a socket back within this long after a drop makes no leave and join",
    )
    ending_soon_seconds: float = Field(
        default=5, ge=0, description="`phase_ending_soon` goes out this long before a phase ends"
    )
    presence_coalesce_ms: int = Field(
        default=250, ge=0, description="at most one presence diff per room in this window"
    )
    sweep_seconds: float = Field(
        default=30, gt=0, description="how often the sweep advances timers whose job was lost"
    )

    # notifications: e-mail and push adapters (see `notifications.channels`)
    email_adapter: Literal["log", "smtp"] = Field(
        default="log", description="`log` writes a line per e-mail; `smtp` sends it"
    )
    email_from: str = "Focus Mate <no-reply@focus.invalid>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = Field(default=10, gt=0)
    push_adapter: Literal["log", "remote"] = Field(
        default="log",
        description="`log` writes a line per push; `remote` sends through FCM (Android, web)"
        " and APNs (iOS)",
    )
    push_timeout_seconds: float = Field(default=10, gt=0)
    fcm_url: str = "https://fcm.googleapis.com/v1/projects/focus-mate/messages:send"
    fcm_access_token: SecretStr | None = None
    apns_url: str = "https://api.push.apple.com"
    apns_topic: str = "app.focusmate"
    apns_auth_token: SecretStr | None = None


@dataclass(frozen=True)
class FocusResources:
    settings: FocusSettings
    publisher: Publisher | None
    """On the process's Redis (None in a process without one: notices are dropped)."""
    notifiers: Mapping[Channel, Notifier]
    """Each notification channel's adapter, as the settings choose."""
    presence: Presence | None = None
    """Room presence (None without Redis); its loop runs once the process has a room socket."""


def presence_timing(settings: FocusSettings, process: Process) -> Timing:
    """A socket's lease lasts as long as the hub waits for a silent socket."""
    from ensemble.apps.focus.live.presence import Timing

    beat = process.settings.realtime_heartbeat_seconds
    return Timing(
        grace_ms=round(settings.reconnect_grace_seconds * 1000),
        coalesce_ms=settings.presence_coalesce_ms,
        lease_ms=round((beat + process.settings.realtime_heartbeat_timeout_seconds) * 1000),
        renew_ms=round(beat * 500),
    )


@asynccontextmanager
async def _open(process: Process, settings: FocusSettings) -> AsyncIterator[FocusResources]:
    publisher = process.publisher()
    from ensemble.apps.focus.live.presence import Presence

    presence = None
    if process.redis is not None and publisher is not None:
        presence = Presence(process.redis, publisher, presence_timing(settings, process))
    try:
        async with open_notifiers(settings, publisher) as notifiers:
            yield FocusResources(settings, publisher, notifiers, presence)
    finally:
        if presence is not None:
            await presence.close()


FOCUS = AppResources("focus", FocusSettings, _open)
FocusDep = Annotated[FocusResources, Depends(FOCUS.dependency)]
