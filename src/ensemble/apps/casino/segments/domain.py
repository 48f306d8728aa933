"""Segments' pure rules: RFM scores and groups, the responsible-play self-check and the play
style survey. No session, no I/O.

The RFM rules are data (`RfmRules`: score cuts from the settings, `GROUP_RULES`); each rule is
a Python function (for tests and single members) and renders the same rule as a SQL
expression (for the set-based job), so the two can never disagree without a test failing.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


class RfmGroup(enum.StrEnum):
    """A member's RFM segment (non-payers are scored on activity alone: never `WHALE`)."""

    WHALE = "WHALE"
    HIGH_ENGAGED = "HIGH_ENGAGED"
    MEDIUM = "MEDIUM"
    LOW_AT_RISK = "LOW_AT_RISK"


@dataclass(frozen=True)
class GroupRule:
    """A member reaching all three minimum scores is in `group` (the first rule matching)."""

    group: RfmGroup
    min_r: int
    min_f: int
    min_m: int


GROUP_RULES: tuple[GroupRule, ...] = (
    GroupRule(RfmGroup.WHALE, min_r=2, min_f=1, min_m=4),
    GroupRule(RfmGroup.HIGH_ENGAGED, min_r=4, min_f=4, min_m=0),
    GroupRule(RfmGroup.HIGH_ENGAGED, min_r=3, min_f=3, min_m=2),
    GroupRule(RfmGroup.MEDIUM, min_r=3, min_f=2, min_m=0),
)
"""Tried in order; a member matching none is `LOW_AT_RISK`. `m` is 0 for a non-payer, so the
payer-only rules (`min_m` > 0) never place one."""
FALLBACK = RfmGroup.LOW_AT_RISK


@dataclass(frozen=True)
class RfmRules:
    """The scores' cuts (ascending, four each: scores 1 to 5) and the rolling window."""

    window_days: int
    recency_days: tuple[int, ...]
    """r is 5 for a member active at most `recency_days[0]` days ago, one less past each cut."""
    frequency_days: tuple[int, ...]
    """f is 1, plus one for each cut the active days in the window reach."""
    monetary_cents: tuple[int, ...]
    """m is 0 for no money spent in the window, else 1 plus one for each cut reached."""

    def window_start(self, as_of: date) -> date:
        """Days after this one are in the window (`window_days` days, `as_of` included)."""
        return date.fromordinal(as_of.toordinal() - self.window_days)

    def r(self, last_active_on: date, as_of: date) -> int:
        age = (as_of - last_active_on).days
        return 5 - sum(age > cut for cut in self.recency_days)

    def f(self, active_days: int) -> int:
        return 1 + sum(active_days >= cut for cut in self.frequency_days)

    def m(self, money_cents: int) -> int:
        return 0 if money_cents <= 0 else 1 + sum(money_cents >= cut for cut in self.monetary_cents)

    def ltv_score(self, money_cents: int) -> Decimal:
        """Money spent in the window as a yearly figure, in currency units (2 decimals)."""
        yearly = Decimal(money_cents) * 365 / self.window_days / 100
        return yearly.quantize(CENT, ROUND_HALF_UP)

    # the same rules as SQL over columns `last_active_on`, `active_days`, `money_cents` and a
    # bind parameter `:as_of` (the cuts are ints from validated settings)

    def r_sql(self) -> str:
        age = "(CAST(:as_of AS date) - last_active_on)"
        crossed = " + ".join(f"({age} > {int(cut)})::int" for cut in self.recency_days)
        return f"5 - ({crossed})"

    def f_sql(self) -> str:
        return "1 + " + " + ".join(f"(active_days >= {int(c)})::int" for c in self.frequency_days)

    def m_sql(self) -> str:
        reached = " + ".join(f"(money_cents >= {int(c)})::int" for c in self.monetary_cents)
        return f"CASE WHEN money_cents <= 0 THEN 0 ELSE 1 + {reached} END"

    def ltv_sql(self) -> str:
        return f"round(money_cents * 365.0 / {int(self.window_days)} / 100, 2)"


def group_of(r: int, f: int, m: int, rules: Sequence[GroupRule] = GROUP_RULES) -> RfmGroup:
    for rule in rules:
        if r >= rule.min_r and f >= rule.min_f and m >= rule.min_m:
            return rule.group
    return FALLBACK


def group_sql(rules: Sequence[GroupRule] = GROUP_RULES) -> str:
    """`group_of` as a SQL CASE over columns `r`, `f`, `m`."""
    whens = " ".join(
        f"WHEN r >= {rule.min_r} AND f >= {rule.min_f} AND m >= {rule.min_m}"
        f" THEN '{rule.group.value}'"
        for rule in rules
    )
    return f"CASE {whens} ELSE '{FALLBACK.value}' END"


# the quiz: a play-style survey and a responsible-play self-check


class RiskLevel(enum.StrEnum):
    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


SELF_CHECK = (
    "Have you bet more than you could really afford to lose?",
    "Have you needed to play with larger amounts to get the same feeling?",
    "Have you come back another day to try to win back what you lost?",
    "Have you bought gems or borrowed to keep playing?",
    "Have you felt you might have a problem with playing?",
    "Has playing caused you any health problems, including stress or anxiety?",
    "Have people criticised your playing, whether or not you thought it true?",
    "Has your playing caused any money problems for you or your household?",
    "Have you felt guilty about the way you play or what happens when you play?",
)
"""The self-check's questions (the nine of the Problem Gambling Severity Index), each answered
0 never, 1 sometimes, 2 most of the time, 3 almost always, in this order."""
ANSWER_MAX = 3
RISK_CUTS = ((8, RiskLevel.HIGH), (3, RiskLevel.MODERATE), (1, RiskLevel.LOW))
"""The index's published cut-offs: 8 and above is high risk."""


def risk_level(score: int) -> RiskLevel:
    for cut, level in RISK_CUTS:
        if score >= cut:
            return level
    return RiskLevel.NONE


class Motivation(enum.StrEnum):
    FUN = "fun"
    COLLECTING = "collecting"
    COMPETITION = "competition"
    REWARDS = "rewards"


class SessionLength(enum.StrEnum):
    SHORT = "short"
    MEDIUM = "medium"
    LONG = "long"


class PlayStyle(enum.StrEnum):
    CASUAL = "casual"
    COLLECTOR = "collector"
    COMPETITOR = "competitor"
    REWARD_SEEKER = "reward_seeker"


STYLE_OF = {
    Motivation.FUN: PlayStyle.CASUAL,
    Motivation.COLLECTING: PlayStyle.COLLECTOR,
    Motivation.COMPETITION: PlayStyle.COMPETITOR,
    Motivation.REWARDS: PlayStyle.REWARD_SEEKER,
}


def play_style(motivation: Motivation) -> PlayStyle:
    return STYLE_OF[motivation]


SUGGESTIONS = {
    RiskLevel.NONE: (),
    RiskLevel.LOW: ("set-session-reminder",),
    RiskLevel.MODERATE: ("set-daily-loss-limit", "set-session-reminder"),
    RiskLevel.HIGH: ("set-daily-loss-limit", "set-spend-limit", "take-a-cool-off"),
}
"""What the self-check suggests at each level (keys the client shows; B2's limits)."""


def reduces_pressure(level: RiskLevel) -> bool:
    """Whether promotions and promotional campaigns must skip the member."""
    return level is RiskLevel.HIGH


# recommendations


class OfferKind(enum.StrEnum):
    PRODUCT = "product"
    MISSION = "mission"
    BANNER = "banner"
    LIMIT = "limit"
    """A responsible-play suggestion (never promotional)."""


class RuleSegment(enum.StrEnum):
    """Whom a recommendation rule is for: an RFM group, members with no segment yet
    (`DEFAULT`), or members whose self-check asked for less pressure (`SAFER_PLAY`)."""

    WHALE = "WHALE"
    HIGH_ENGAGED = "HIGH_ENGAGED"
    MEDIUM = "MEDIUM"
    LOW_AT_RISK = "LOW_AT_RISK"
    DEFAULT = "DEFAULT"
    SAFER_PLAY = "SAFER_PLAY"
