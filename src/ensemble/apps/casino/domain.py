"""Casino-Club's pure rules and constants: ranks, invite codes, nicknames, currencies. No
session, no I/O."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta

COINS = "coins"
"""The earned currency (the seed's cyber tokens): a kernel ledger account, realm `casino`."""
GEMS = "gems"
"""The premium currency, bought with real money only (through the payment port, A6)."""
CURRENCIES = (COINS, GEMS)

NICKNAME_PATTERN = r"^[\w-]+$"
"""Letters of any script, digits, `_` and `-`: a nickname is also the login name."""
NICKNAME_LENGTH = (2, 20)
INVITE_CODE_PATTERN = r"^[A-Za-z0-9-]{1,32}$"
LOGIN_DOMAIN = "casino.invalid"
"""Accounts log in by nickname: the kernel account's login is `<nickname>@casino.invalid`
(decision 27); `.invalid` is reserved, so no such address can ever receive mail."""


def login_name(nickname: str) -> str:
    """The kernel account login of a nickname (the kernel folds its case: `Ace` is `ace`)."""
    return f"{nickname}@{LOGIN_DOMAIN}"


class Rank(enum.StrEnum):
    """A member's rank, lowest first; `ADMIN` passes every rank check."""

    STANDARD = "STANDARD"
    PREMIUM = "PREMIUM"
    VIP = "VIP"
    ADMIN = "ADMIN"


_RANK_ORDER = {rank: position for position, rank in enumerate(Rank)}


def rank_reaches(rank: Rank, lowest: Rank) -> bool:
    """Whether a member of `rank` may use a route that needs at least `lowest`."""
    return _RANK_ORDER[rank] >= _RANK_ORDER[lowest]


class InviteRefusal(enum.StrEnum):
    """Why an invite code cannot sign anyone up (`check-invite`'s `reason`)."""

    UNKNOWN = "unknown"
    USED = "used"
    INACTIVE = "inactive"
    EXPIRED = "expired"


def invite_refusal(
    *, is_active: bool, uses: int, max_uses: int, expires_at: datetime | None, now: datetime
) -> InviteRefusal | None:
    """Why a stored code is refused at `now`, or None if it can be used (an admin's switch
    first, then spent, then expired)."""
    if not is_active:
        return InviteRefusal.INACTIVE
    if uses >= max_uses:
        return InviteRefusal.USED
    if expires_at is not None and expires_at <= now:
        return InviteRefusal.EXPIRED
    return None


class GameType(enum.StrEnum):
    """The games a hand is played at."""

    SLOT = "slot"
    GACHA = "gacha"


class ItemKind(enum.StrEnum):
    """What an item is for: kept (a gacha collectible), or used up (a streak shield)."""

    COLLECTIBLE = "collectible"
    CONSUMABLE = "consumable"
    MATERIAL = "material"


SHARDS = "shard"
"""The item id of shards: what a duplicate gacha pull turns into (a quantity, like any item)."""
STREAK_SHIELD = "streak-shield"
"""The consumable that covers one missed day of a login streak (A5)."""


class Reason(enum.StrEnum):
    """Why coins or gems moved (the ledger entries' `reason`)."""

    SIGN_UP = "sign_up"


SIGN_UP_KEY = "sign-up"
"""The idempotency key of the sign-up grant: one per member's coins account."""


# play periods (stats and leaderboards, A7)


class Period(enum.StrEnum):
    """A stats or leaderboard period: the current UTC day, ISO week (from Monday), month, or
    all time."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    ALL = "all"


def period_start(period: Period, now: datetime) -> datetime | None:
    """When the period holding `now` began (UTC midnight), or None for all time."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    match period:
        case Period.DAY:
            return day
        case Period.WEEK:
            return day - timedelta(days=day.weekday())
        case Period.MONTH:
            return day.replace(day=1)
        case Period.ALL:
            return None


def period_label(period: Period, now: datetime) -> str:
    """The name of the period holding `now` (`day:2026-12-07`, `week:2026-W50`,
    `month:2026-12`, `all`): stable for the whole period, a new one at its end."""
    start = period_start(period, now)
    match period:
        case Period.DAY:
            assert start is not None
            return f"day:{start.date().isoformat()}"
        case Period.WEEK:
            year, week, _ = now.astimezone(UTC).isocalendar()
            return f"week:{year}-W{week:02d}"
        case Period.MONTH:
            assert start is not None
            return f"month:{start:%Y-%m}"
        case Period.ALL:
            return "all"


def period_end(period: Period, start: datetime) -> datetime | None:
    """When the period that began at `start` ends (None for all time)."""
    match period:
        case Period.DAY:
            return start + timedelta(days=1)
        case Period.WEEK:
            return start + timedelta(weeks=1)
        case Period.MONTH:
            return (start + timedelta(days=32)).replace(day=1)
        case Period.ALL:
            return None
