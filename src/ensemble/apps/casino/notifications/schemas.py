"""Bodies of the inbox, its read marks and the mute settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from ensemble.apps.casino.domain import NotificationCategory
from ensemble.kernel.schemas import ClosedRequestModel, FromText, ResponseModel

MARK_MAX = 100
MAX_ID = 2**62
"""Ids are BIGINTs: a larger one names nothing (and must not reach PostgreSQL)."""


class NotificationPublic(ResponseModel):
    """A message of your inbox, as the list, the SSE stream and the WebSocket show it."""

    id: int = Field(description="1, 2, 3… per member, with no gap: the SSE `id`")
    category: NotificationCategory
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class UnreadCount(ResponseModel):
    unread_count: int


class MarkRead(ClosedRequestModel):
    ids: list[int] = Field(min_length=1, max_length=MARK_MAX)
    """Ids of your notifications (unknown ones are ignored)."""


class MarkedRead(ResponseModel):
    marked: int = Field(description="How many were unread and are now read")
    unread_count: int


Categories = list[FromText[NotificationCategory]]


class NotificationSettingsBody(ClosedRequestModel):
    """The categories you mute on each channel (`responsible_play` cannot be muted); a
    muted message still lands in your inbox."""

    muted_live: Categories = Field(default_factory=list, max_length=len(NotificationCategory))
    muted_push: Categories = Field(default_factory=list, max_length=len(NotificationCategory))
    muted_email: Categories = Field(default_factory=list, max_length=len(NotificationCategory))


class NotificationSettingsPublic(ResponseModel):
    muted_live: list[NotificationCategory]
    muted_push: list[NotificationCategory]
    muted_email: list[NotificationCategory]
