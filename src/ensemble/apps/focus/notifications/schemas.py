"""Bodies of notifications and devices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from ensemble.apps.focus.notifications.models import Platform
from ensemble.apps.focus.schemas import Strict
from ensemble.kernel.schemas import FromText, ResponseModel, RowId

MARK_MAX = 100
TOKEN: dict[str, Any] = {"min_length": 8, "max_length": 512, "pattern": r"^[A-Za-z0-9_:.\-]+$"}
"""The bounds of a push token (`Field(**TOKEN)`, `Path(**TOKEN)`): an FCM registration token,
an APNs device token (hex) or a web push token, of letters, digits and `_:.-` (it travels in
the path of `DELETE /devices/{token}`)."""


class NotificationPublic(ResponseModel):
    notification_id: RowId
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    created_at: datetime


class UnreadCount(ResponseModel):
    unread_count: int


class MarkRead(Strict):
    ids: list[FromText[uuid.UUID]] | None = Field(default=None, min_length=1, max_length=MARK_MAX)
    """These notifications of yours (others' are ignored); none: all of them."""


class MarkedRead(ResponseModel):
    marked: int
    """How many were unread and are now read."""
    unread_count: int


class DeviceRegister(Strict):
    token: str = Field(**TOKEN)
    platform: FromText[Platform]


class DevicePublic(ResponseModel):
    token: str
    platform: Platform
    registered_at: datetime
