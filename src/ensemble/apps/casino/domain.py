"""Casino-Club's pure rules and constants: ranks, invite codes, nicknames, currencies. No
session, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

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


class NotificationCategory(enum.StrEnum):
    """What a notification is about (members may mute categories, B4)."""

    WALLET = "wallet"
    REWARD = "reward"
    ACHIEVEMENT = "achievement"
    MISSION = "mission"
    TIER = "tier"
    CAMPAIGN = "campaign"
    RESPONSIBLE_PLAY = "responsible_play"
    SYSTEM = "system"


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
    REWARD = "reward"
    REWARD_REVERSED = "reward_reversed"


SIGN_UP_KEY = "sign-up"
"""The idempotency key of the sign-up grant: one per member's coins account."""


# rewards and streaks (A5)


class RewardKind(enum.StrEnum):
    """What a reward grants: an amount of a currency, or a quantity of an item."""

    COINS = COINS
    GEMS = GEMS
    ITEM = "item"


@dataclass(frozen=True)
class RewardSpec:
    """One grant's content: `amount` of coins or gems, or `quantity` of `item_id`."""

    kind: RewardKind
    amount: int | None = None
    item_id: str | None = None
    quantity: int | None = None


def reward_shape_error(spec: RewardSpec) -> str | None:
    """Why a reward's fields do not fit its kind (None when they do): a currency takes a
    positive `amount` alone, an item an `item_id` and a positive `quantity` alone."""
    if spec.kind is RewardKind.ITEM:
        if spec.amount is not None:
            return "an item reward takes item_id and quantity, not amount"
        if spec.item_id is None or spec.quantity is None:
            return "an item reward needs item_id and quantity"
        return None if spec.quantity > 0 else "the quantity must be positive"
    if spec.item_id is not None or spec.quantity is not None:
        return f"a {spec.kind.value} reward takes amount, not item_id or quantity"
    if spec.amount is None:
        return f"a {spec.kind.value} reward needs an amount"
    return None if spec.amount > 0 else "the amount must be positive"


DAILY_CYCLE: tuple[RewardSpec, ...] = (
    RewardSpec(RewardKind.COINS, amount=100),
    RewardSpec(RewardKind.COINS, amount=150),
    RewardSpec(RewardKind.COINS, amount=200),
    RewardSpec(RewardKind.COINS, amount=250),
    RewardSpec(RewardKind.COINS, amount=300),
    RewardSpec(RewardKind.COINS, amount=400),
    RewardSpec(RewardKind.ITEM, item_id=STREAK_SHIELD, quantity=1),
)
"""The daily login rewards of a 7-day cycle, by streak day; day 7 is the weekly reward (a
streak shield: gems are bought, never handed out by a schedule). Day 8 starts it again."""
DAILY_LOGIN_REASON = "daily_login"
"""The reason of a daily login reward (`casino.rewards.reason`)."""


def daily_reward(streak_day: int) -> RewardSpec:
    """The reward of the `streak_day`-th day in a row (1 = the first)."""
    if streak_day < 1:
        raise ValueError("streak days count from 1")
    return DAILY_CYCLE[(streak_day - 1) % len(DAILY_CYCLE)]


@dataclass(frozen=True)
class StreakStep:
    """What claiming `day` does to a streak: the day it becomes in the streak, and whether
    a streak shield is used up to cover the one day missed before it."""

    streak_day: int
    uses_shield: bool


def next_streak_step(
    *, current: int, last_day: date | None, day: date, shields: int
) -> StreakStep | None:
    """The step of claiming local `day` after a streak of `current` days ending on
    `last_day`; None when `day` is not after `last_day` (claimed already, or earlier: a
    time-zone change never claims a day twice). Days are calendar days, not 24-hour spans,
    so a daylight-saving change neither breaks nor stretches a streak. Missing exactly one
    day keeps the streak if a shield is held (and uses it); any other gap starts over."""
    if last_day is None or current < 1:
        return StreakStep(1, uses_shield=False)
    gap = (day - last_day).days
    if gap <= 0:
        return None
    if gap == 1:
        return StreakStep(current + 1, uses_shield=False)
    if gap == 2 and shields > 0:
        return StreakStep(current + 1, uses_shield=True)
    return StreakStep(1, uses_shield=False)


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


# admin (B6)


class UserStatus(enum.StrEnum):
    """Whether a member may use the place: `suspended` and `deleted` members' tokens are
    refused (`account_disabled`); `deleted` (a soft delete) is final."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"
