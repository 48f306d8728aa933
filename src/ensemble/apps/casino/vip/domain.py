"""VIP tiers' pure rules: which tier a member's measures reach, what a review does to a
member's standing (upgrade at once; at period end keep, grace, or drop), and what is missing
for the next tier. The thresholds and benefits are data (`casino.vip_tiers`); no I/O here."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

PERIOD = timedelta(days=30)
"""The rolling period the measures are taken over, and the length of a member's period (a
downgrade is only ever decided when one ends)."""

SPENDING_REASONS = ("shop_purchase", "gacha_pull", "slot_bet")
"""The ledger reasons of gems spent on play or in the shop (`shop.domain.ShopReason.PURCHASE`,
the gacha's and the slot's wagers): refunds, reversals and debt repayments are not spending."""
SPENDING_ACTIONS = frozenset({"GACHA_SPIN", "SHOP_PURCHASE"})
"""Actions that may have spent gems: the on-event review measures again after each."""
DAILY_BONUS_REASON = "vip_daily_bonus"
"""The reason of the tier's daily bonus coins (`casino.rewards.reason`), granted with the
daily login reward."""


def daily_bonus_key(day: date) -> str:
    """The idempotency key of a local day's VIP bonus: once per member and day."""
    return f"vip-daily:{day.isoformat()}"


@dataclass(frozen=True)
class Measures:
    """A member's activity over the rolling period: gems spent, and days (UTC) with at
    least one action."""

    gem_spend: int
    active_days: int


@dataclass(frozen=True)
class TierRule:
    """One tier: reached with at least `min_gem_spend` gems spent and `min_active_days`
    active days over the period."""

    tier: int
    min_gem_spend: int
    min_active_days: int

    def reached_by(self, measures: Measures) -> bool:
        return (
            measures.gem_spend >= self.min_gem_spend
            and measures.active_days >= self.min_active_days
        )


def qualified_tier(rules: Sequence[TierRule], measures: Measures) -> int:
    """The highest tier the measures reach (0 when none does)."""
    return max((rule.tier for rule in rules if rule.reached_by(measures)), default=0)


def missing(rule: TierRule, measures: Measures) -> Measures:
    """What the measures lack to reach `rule` (0 where they suffice)."""
    return Measures(
        max(rule.min_gem_spend - measures.gem_spend, 0),
        max(rule.min_active_days - measures.active_days, 0),
    )


class Move(enum.StrEnum):
    """What a review did to a member's tier (the history's `move`)."""

    UPGRADE = "upgrade"
    GRACE = "grace"
    """The period ended short of the tier: it is kept one more period."""
    DOWNGRADE = "downgrade"


@dataclass(frozen=True)
class Standing:
    """A member's tier, when their current period ends, and whether they are in grace."""

    tier: int
    period_ends_at: datetime
    in_grace: bool


def next_period_end(ends_at: datetime, now: datetime, period: timedelta = PERIOD) -> datetime:
    """The end of the period holding `now`, periods following each other from `ends_at`
    (a review that ran late does not shift the member's calendar)."""
    if now < ends_at:
        return ends_at
    return ends_at + period * ((now - ends_at) // period + 1)


def review(
    standing: Standing, qualified: int, now: datetime, period: timedelta = PERIOD
) -> tuple[Standing, Move | None]:
    """A review at `now` of a member who qualifies for `qualified`: a higher tier is given at
    once (a new period starts); otherwise nothing changes before the period ends. At its end
    a member still qualified keeps the tier (grace, if any, is over); one short of it keeps
    it one more period (grace); one still short after the grace drops to what they
    qualify for."""
    if qualified > standing.tier:
        return Standing(qualified, now + period, in_grace=False), Move.UPGRADE
    if now < standing.period_ends_at:
        return standing, None
    rolled = next_period_end(standing.period_ends_at, now, period)
    if qualified >= standing.tier:
        return replace(standing, period_ends_at=rolled, in_grace=False), None
    if not standing.in_grace:
        return replace(standing, period_ends_at=rolled, in_grace=True), Move.GRACE
    return Standing(qualified, rolled, in_grace=False), Move.DOWNGRADE
