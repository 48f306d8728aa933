"""The age-gated unlock's request and response bodies (B5)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from ensemble.apps.casino.domain import Rank
from ensemble.apps.casino.unlock.domain import JURISDICTION_PATTERN, Stage
from ensemble.kernel.schemas import ClosedRequestModel, FromText, ResponseModel

CONTENT_ID = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")


class VerifyRequest(ClosedRequestModel):
    jurisdiction: str = Field(
        pattern=JURISDICTION_PATTERN, description="ISO 3166-1 alpha-2, e.g. `KR`"
    )
    birth_date: FromText[date] = Field(description="What the sandbox provider checks")


class VerificationPublic(ResponseModel):
    verified: bool = True
    jurisdiction: str
    provider: str
    verified_at: datetime


class UnlockRequest(ClosedRequestModel):
    content_id: str = CONTENT_ID
    stage: FromText[Stage]


class StagePublic(ResponseModel):
    """A stage's terms, and its body only if you unlocked it."""

    stage: Stage
    price_coins: int
    min_vip_tier: int
    min_rank: Rank
    unlocked: bool
    body: str | None = Field(description="Null until you unlock the stage")


class ContentPublic(ResponseModel):
    content_id: str
    title: str
    stages: list[StagePublic]


class UnlockPublic(ResponseModel):
    content_id: str
    stage: Stage
    price_coins: int
    unlocked_at: datetime
    body: str
