"""Casino-Club's pure rules and constants: ranks, invite codes, nicknames, currencies. No
session, no I/O."""

from __future__ import annotations

import enum
from datetime import datetime

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
