"""Responsible play's request and response bodies (B2)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ensemble.apps.casino.limits.domain import CoolOff, Exclusion, LimitKind, LimitPeriod
from ensemble.kernel.schemas import ClosedRequestModel, FromText, ResponseModel

MAX_AMOUNT = 10**12


class LimitRequest(ClosedRequestModel):
    kind: FromText[LimitKind]
    period: FromText[LimitPeriod]
    currency: str = Field(
        max_length=16,
        description="`coins`, `gems` or `USD` (cents) for spend; `coins` or `gems` for loss;"
        " `minutes` for session_time",
    )
    amount: int = Field(ge=0, le=MAX_AMOUNT)


class LimitsUpdate(ClosedRequestModel):
    """Your limits, all of them: one not listed goes (after the delay, like a raise)."""

    limits: list[LimitRequest] = Field(max_length=20)


class RealityCheckUpdate(ClosedRequestModel):
    interval_minutes: int | None = Field(
        ge=5, le=1440, description="Minutes of a game session between checks (null: off)"
    )


class CoolOffRequest(ClosedRequestModel):
    duration: FromText[CoolOff]


class ExclusionRequest(ClosedRequestModel):
    duration: FromText[Exclusion]


class PendingChange(ResponseModel):
    amount: int | None = Field(description="The limit it becomes (null: no limit)")
    effective_at: datetime


class LimitPublic(ResponseModel):
    kind: LimitKind
    period: LimitPeriod
    currency: str
    amount: int | None = Field(description="The limit in force")
    pending: PendingChange | None = Field(description="A looser limit waiting for its time")
    used: int = Field(description="What counts against it this local day or week")
    remaining: int | None


class ResponsiblePlayPublic(ResponseModel):
    """Your responsible-play settings and where you stand."""

    limits: list[LimitPublic]
    cool_off_until: datetime | None
    self_excluded_until: datetime | None
    self_excluded_permanently: bool
    reality_check_minutes: int | None = Field(description="Null: reality checks are off")


PLAY_REFUSED = (
    403,
    "You are self-excluded (`self_excluded`) or cooling off (`cooling_off`): nothing is written",
)
"""What a bet, pull or purchase route adds to its documented errors (its 409s also include
`limit_reached`)."""
