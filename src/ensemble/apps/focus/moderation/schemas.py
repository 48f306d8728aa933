"""Report and moderation bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from ensemble.apps.focus.models import Role
from ensemble.apps.focus.moderation.models import ReportStatus, TargetType
from ensemble.apps.focus.schemas import VISIBLE_TEXT, Strict
from ensemble.kernel.schemas import FromText, ResponseModel, RowId

REASON = Field(min_length=1, max_length=1000, pattern=VISIBLE_TEXT)


class ReportCreate(Strict):
    target_type: FromText[TargetType]
    target_id: FromText[uuid.UUID]
    reason: str = REASON


class ReportPublic(ResponseModel):
    report_id: RowId
    reporter_id: uuid.UUID
    target_type: TargetType
    target_id: uuid.UUID
    reason: str
    status: ReportStatus
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None
    resolution: str | None


class ReportResolve(Strict):
    resolution: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        pattern=VISIBLE_TEXT,
        description="What was done or decided",
    )


class ModeratedUser(ResponseModel):
    """A user as the moderators see it."""

    user_id: uuid.UUID = Field(validation_alias="account_id")
    display_name: str
    role: Role
    suspended_at: datetime | None
