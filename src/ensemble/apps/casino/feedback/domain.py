"""Feedback's catalogue (data) and its pure rules: the occasion an action's context makes
(a login streak of a week or more, a big win, a win) and the variant a member gets, the same
all day for one member (a hash of member, day, action type and occasion: no stored state, no
randomness to seed, and a member does not see the message flicker between calls)."""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

STREAK_DAYS = 7
"""A login streak this long (or longer) picks the streak variants."""
BIG_WIN_COINS = 1000
"""A last hand winning this many coins (net) or more picks the big-win variants (an SSR
pull does too)."""
RECENT_MINUTES = 10
"""How old the member's last hand may be to count as the action's outcome."""
GENERIC = "*"
"""The catalogue entry of action types without their own (admins add types)."""


class Occasion(enum.StrEnum):
    DEFAULT = "default"
    STREAK = "streak"
    WIN = "win"
    BIG_WIN = "big_win"


@dataclass(frozen=True)
class Variant:
    message: str
    """May name `{streak}` (days in a row) or `{win}` (coins won)."""
    animation: str


CATALOGUE: Mapping[str, Mapping[Occasion, tuple[Variant, ...]]] = {
    "LOGIN": {
        Occasion.DEFAULT: (
            Variant("Welcome back!", "wave"),
            Variant("Good to see you again.", "sparkle"),
            Variant("Your table is ready.", "cards-shuffle"),
        ),
        Occasion.STREAK: (
            Variant("{streak} days in a row: you're on fire!", "flame-streak"),
            Variant("A {streak}-day streak. Legendary.", "crown-glow"),
        ),
    },
    "REWARD_CLAIM": {
        Occasion.DEFAULT: (
            Variant("Reward collected.", "coins-burst"),
            Variant("Into your wallet it goes.", "wallet-fill"),
        ),
        Occasion.STREAK: (Variant("Day {streak} of your streak: claimed!", "flame-streak"),),
    },
    "SLOT_SPIN": {
        Occasion.DEFAULT: (
            Variant("So close! Spin again?", "reels-settle"),
            Variant("The reels are warming up.", "reels-glow"),
        ),
        Occasion.WIN: (
            Variant("You won {win} coins!", "coins-rain"),
            Variant("A win: {win} coins.", "coins-burst"),
        ),
        Occasion.BIG_WIN: (
            Variant("BIG WIN: {win} coins!", "jackpot-fireworks"),
            Variant("Huge! {win} coins.", "jackpot-confetti"),
        ),
    },
    "GACHA_SPIN": {
        Occasion.DEFAULT: (
            Variant("New items for your collection.", "capsule-open"),
            Variant("Let's see what you got.", "capsule-shake"),
        ),
        Occasion.BIG_WIN: (Variant("An SSR! What a pull.", "rainbow-burst"),),
    },
    "SHOP_PURCHASE": {
        Occasion.DEFAULT: (
            Variant("Thanks for your purchase!", "gift-open"),
            Variant("Enjoy your new things.", "sparkle"),
        ),
    },
    GENERIC: {
        Occasion.DEFAULT: (
            Variant("Nice!", "sparkle"),
            Variant("Got it.", "check-pop"),
        ),
    },
}
"""The variants of each action type by occasion; a missing occasion falls back to default."""


def occasion(*, streak: int, win: int | None, rare_pull: bool) -> Occasion:
    """The occasion of an action: a big win (or an SSR), a win, a long streak, or none."""
    if rare_pull or (win is not None and win >= BIG_WIN_COINS):
        return Occasion.BIG_WIN
    if win is not None and win > 0:
        return Occasion.WIN
    if streak >= STREAK_DAYS:
        return Occasion.STREAK
    return Occasion.DEFAULT


@dataclass(frozen=True)
class Feedback:
    message: str
    animation: str
    occasion: Occasion
    variant: int


def pick(
    action_type: str, found: Occasion, user_id: uuid.UUID, day: date, *, streak: int, win: int
) -> Feedback:
    """The member's variant of the day for the action type and occasion (the occasion falls
    back to default where the type has no variants for it)."""
    entry = CATALOGUE.get(action_type, CATALOGUE[GENERIC])
    used = found if found in entry else Occasion.DEFAULT
    variants = entry[used]
    seed = f"{user_id}:{day.isoformat()}:{action_type}:{used.value}".encode()
    index = int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") % len(variants)
    chosen = variants[index]
    message = chosen.message.format(streak=streak, win=win)
    return Feedback(message, chosen.animation, used, index)
