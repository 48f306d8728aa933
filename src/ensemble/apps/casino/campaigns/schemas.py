"""Campaigns' request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, field_validator

from ensemble.apps.casino.campaigns.models import Audience, CampaignStatus
from ensemble.kernel.schemas import ClosedRequestModel, FromText, Instant, ResponseModel, RowId


class CampaignCreate(ClosedRequestModel):
    """`send_at`: a whole minute (no seconds) in the future; `segment`: an RFM group or
    `all`; `promotional` ones skip members whose self-check was high risk."""

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=2000)
    segment: FromText[Audience]
    promotional: bool
    send_at: Instant

    @field_validator("send_at")
    @classmethod
    def _to_the_minute(cls, value: datetime) -> datetime:
        if value.second or value.microsecond:
            raise ValueError("send_at is a whole minute (seconds 0)")
        return value


class CampaignPublic(ResponseModel):
    campaign_id: RowId
    title: str
    body: str
    segment: Audience
    promotional: bool
    send_at: datetime
    status: CampaignStatus
    recipients: int | None = Field(description="How many members it reached (once sent)")
    created_by: uuid.UUID
    created_at: datetime
    sent_at: datetime | None
    cancelled_at: datetime | None
