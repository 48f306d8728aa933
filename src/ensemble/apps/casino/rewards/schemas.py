"""The rewards' request and response bodies: grants, the history, reversals, the daily claim,
the streak with its calendar and preview, the time zone."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from ensemble.apps.casino.domain import RewardKind
from ensemble.kernel.ledger.domain import MAX_AMOUNT
from ensemble.kernel.openapi import Responses
from ensemble.kernel.schemas import ClosedRequestModel, FromText, ResponseModel, RowId

REWARD_KEY_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"
"""An API idempotency key: letters, digits, `_`, `.` and `-` (a UUID fits). The system's
own keys hold a `:` (`daily-login:2026-03-30`), so a client's key never meets them."""
REASON = Field(min_length=1, max_length=200)


def answered_before(model: type[BaseModel], description: str) -> Responses:
    """`responses=` for the 200 of a request that repeats an earlier one (its 201 otherwise)."""
    return {200: {"model": model, "description": description}}


class RewardGrant(ClosedRequestModel):
    """`POST /api/rewards`: coins or gems take `amount`, an item takes `item_id` and
    `quantity`."""

    user_id: FromText[uuid.UUID]
    kind: FromText[RewardKind]
    amount: int | None = Field(default=None, gt=0, le=MAX_AMOUNT)
    item_id: str | None = Field(default=None, min_length=1, max_length=64)
    quantity: int | None = Field(default=None, gt=0, le=1_000_000)
    reason: str = REASON
    idempotency_key: str = Field(pattern=REWARD_KEY_PATTERN)


class RewardReverse(ClosedRequestModel):
    reason: str = REASON


class RewardPublic(ResponseModel):
    """A grant (and its reversal, if any)."""

    reward_id: RowId
    user_id: uuid.UUID
    kind: RewardKind
    amount: int | None = Field(description="Coins or gems granted (null for an item)")
    item_id: str | None
    quantity: int | None
    reason: str
    idempotency_key: str
    granted_by: uuid.UUID | None = Field(description="The admin (null: the system)")
    created_at: datetime
    reversed_at: datetime | None
    reverse_reason: str | None


class RewardContent(ResponseModel):
    """What a reward gives."""

    kind: RewardKind
    amount: int | None
    item_id: str | None
    quantity: int | None


class StreakCounts(ResponseModel):
    current: int = Field(description="Local days in a row claimed (0 once broken)")
    longest: int


class DailyClaimPublic(ResponseModel):
    """A claimed local day: its reward (null on the sign-up day, whose reward is the sign-up
    grant) and the streak after it."""

    day: date
    streak_day: int = Field(description="The day's place in the streak (1 = the first)")
    shield_used: bool = Field(description="A streak shield covered the day missed before it")
    reward: RewardPublic | None
    streak: StreakCounts
    claimed_now: bool = Field(description="False: the day was claimed earlier")


class CalendarDay(ResponseModel):
    day: date
    streak_day: int
    shield_used: bool


class PreviewPublic(ResponseModel):
    day: date
    streak_day: int
    reward: RewardContent


class StreakPublic(ResponseModel):
    """Your login streak on your local day."""

    time_zone: str
    today: date
    current: int = Field(description="Local days in a row claimed (0 once broken)")
    longest: int
    today_claimed: bool
    shields: int = Field(description="Streak shields held: each covers one missed day")
    month: str = Field(description="The calendar's month, `YYYY-MM`")
    calendar: list[CalendarDay] = Field(description="The days claimed in `month`")
    next_rewards: list[PreviewPublic] = Field(description="The next 7 claims' rewards")


class TimeZoneSet(ClosedRequestModel):
    time_zone: str = Field(
        min_length=1, max_length=64, examples=["Asia/Seoul"], description="An IANA name"
    )


class TimeZonePublic(ResponseModel):
    time_zone: str
    today: date = Field(description="Your local day there now")
