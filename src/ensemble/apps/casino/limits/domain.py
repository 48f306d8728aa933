"""Responsible play's pure rules (B2): what a limit is, how a change applies (a tighter limit
at once, a looser one a day later), play periods in the member's time zone, cool-off and
self-exclusion spans, reality-check intervals. No session, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ensemble.apps.casino.domain import COINS, GEMS
from ensemble.apps.casino.shop.domain import MONEY

RAISE_DELAY = timedelta(hours=24)
"""How long a looser limit (higher, or removed) waits before it applies."""
DEFAULT_REALITY_CHECK_MINUTES = 60


class LimitKind(enum.StrEnum):
    """What a limit caps: what you spend (bets, pulls, purchases), what you lose (bets minus
    wins), or minutes of play (game sessions)."""

    SPEND = "spend"
    LOSS = "loss"
    SESSION_TIME = "session_time"


class LimitPeriod(enum.StrEnum):
    """A local calendar day, or a local week from Monday."""

    DAY = "day"
    WEEK = "week"


SPEND_CURRENCIES = (COINS, GEMS, MONEY)
"""Spend limits are per currency, in its unit (coins, gems, US cents)."""
LOSS_CURRENCIES = (COINS, GEMS)
"""Only coins and gems are staked."""
TIME_UNIT = "minutes"
"""The `currency` of a session-time limit: it counts minutes."""


@dataclass(frozen=True, order=True)
class LimitKey:
    kind: LimitKind
    period: LimitPeriod
    currency: str


def key_problem(key: LimitKey) -> str | None:
    """Why a limit's currency does not fit its kind (None when it does)."""
    allowed = {
        LimitKind.SPEND: SPEND_CURRENCIES,
        LimitKind.LOSS: LOSS_CURRENCIES,
        LimitKind.SESSION_TIME: (TIME_UNIT,),
    }[key.kind]
    if key.currency in allowed:
        return None
    return f"a {key.kind.value} limit is counted in one of {', '.join(allowed)}"


@dataclass(frozen=True)
class LimitState:
    """A limit as stored: the amount in force (None: no limit) and a looser change waiting
    for `pending_at` (`pending_amount` None: the limit goes)."""

    amount: int | None
    pending_amount: int | None = None
    pending_at: datetime | None = None

    def at(self, now: datetime) -> LimitState:
        """The state at `now`: a pending change that is due has applied."""
        if self.pending_at is not None and self.pending_at <= now:
            return LimitState(self.pending_amount)
        return self

    @property
    def empty(self) -> bool:
        return self.amount is None and self.pending_at is None


def change(current: LimitState, desired: int | None, now: datetime) -> LimitState:
    """A member asks for `desired` (None: no limit) at `now`. As tight or tighter than the
    limit in force applies at once (and drops a pending loosening); looser waits
    `RAISE_DELAY`, and asking the same looser value again keeps its original time."""
    state = current.at(now)
    tighter = desired is not None and (state.amount is None or desired <= state.amount)
    if tighter or desired == state.amount:
        return LimitState(desired)
    if state.pending_at is not None and state.pending_amount == desired:
        return state
    return LimitState(state.amount, desired, now + RAISE_DELAY)


# periods


@dataclass(frozen=True)
class PlayDays:
    """The member's local day and the Monday of its week, and when each began."""

    day: date
    week: date
    day_start: datetime
    week_start: datetime


def play_days(now: datetime, time_zone: str) -> PlayDays:
    zone = ZoneInfo(time_zone)
    day = now.astimezone(zone).date()
    week = day - timedelta(days=day.weekday())
    return PlayDays(
        day,
        week,
        datetime.combine(day, time(), zone),
        datetime.combine(week, time(), zone),
    )


# cool-off and self-exclusion


class CoolOff(enum.StrEnum):
    H24 = "24h"
    D7 = "7d"
    D30 = "30d"


class Exclusion(enum.StrEnum):
    M6 = "6m"
    Y1 = "1y"
    PERMANENT = "permanent"


SPANS: dict[str, timedelta | None] = {
    CoolOff.H24: timedelta(hours=24),
    CoolOff.D7: timedelta(days=7),
    CoolOff.D30: timedelta(days=30),
    Exclusion.M6: timedelta(days=183),
    Exclusion.Y1: timedelta(days=366),
    Exclusion.PERMANENT: None,
}
"""How long each lasts (None: for ever). Months are counted generously: 183 and 366 days."""


def extended_end(
    current: datetime | None, *, permanent: bool, span: timedelta | None, now: datetime
) -> datetime | None:
    """The new end of a period asked for `span` at `now` (None: permanent) over the one in
    force (`current`, or `permanent`). Raises `ValueError` when it would end sooner."""
    if permanent:
        if span is None:
            return None
        raise ValueError("shorter")
    if span is None:
        return None
    end = now + span
    if current is not None and current > now and end < current:
        raise ValueError("shorter")
    return end


# reality checks


def reality_checks_due(played: timedelta, interval_minutes: int | None) -> int:
    """How many reality checks a session that has lasted `played` has earned (0 when off)."""
    if not interval_minutes:
        return 0
    return int(played // timedelta(minutes=interval_minutes))
