"""VIP response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from ensemble.apps.casino.vip.domain import Move
from ensemble.kernel.schemas import ResponseModel


class TierPublic(ResponseModel):
    """A tier: what reaches it over the rolling period and what it gives."""

    tier: int
    name: str
    min_gem_spend: int = Field(description="Gems spent on play and in the shop over the period")
    min_active_days: int = Field(description="Days (UTC) with an action over the period")
    shop_discount_percent: int = Field(
        description="Off shop prices (up to each product's own VIP discount ceiling)"
    )
    daily_bonus_coins: int = Field(description="Added to the daily login reward")


class TiersPublic(ResponseModel):
    period_days: int = Field(description="The rolling period the thresholds are measured over")
    items: list[TierPublic]


class MeasuresPublic(ResponseModel):
    gem_spend: int
    active_days: int


class NextTier(ResponseModel):
    tier: TierPublic
    missing: MeasuresPublic = Field(description="What you lack to reach it (0 where enough)")


class VipStatusPublic(ResponseModel):
    """Your tier, its benefits, your period and your progress to the next tier."""

    tier: TierPublic
    exclusive_banners: list[str] = Field(description="Open gacha banners your tier unlocks")
    in_grace: bool = Field(
        description="The last period ended short of your tier: you keep it until"
        " `period_ends_at`, then drop unless you reach it again"
    )
    period_ends_at: datetime | None = Field(
        description="When your tier is next reviewed for a downgrade (null at tier 0)"
    )
    measures: MeasuresPublic = Field(description="Yours over the rolling period, now")
    next: NextTier | None = Field(description="The next tier and what is missing (null at the top)")


class VipChangePublic(ResponseModel):
    change_id: uuid.UUID = Field(validation_alias="id")
    from_tier: int
    to_tier: int
    move: Move
    gem_spend: int = Field(description="Your measures when it happened")
    active_days: int
    at: datetime
