"""Leaderboards' pure rules: which boards a hand counts on, their Redis keys and lifetimes.

A board ranks members by their **net coin winnings** (coins paid minus coins bet) over a
period at one game or at every game: the number a member can act on, which a single lucky
hand cannot top for a whole period the way "biggest win" would. Hands played with another
currency (gems) count on no board."""

from __future__ import annotations

from datetime import datetime, timedelta

from ensemble.apps.casino.domain import COINS, GameType, Period, period_label

PREFIX = "casino:leaderboard"
SEEN_PREFIX = f"{PREFIX}:seen"
"""`<SEEN_PREFIX>:<hand id>`: a hand already counted (a repeated call adds nothing)."""
SEEN_SECONDS = 3600
"""How long a counted hand is remembered: longer than any retry of its caller."""
KEPT = {
    Period.DAY: timedelta(days=8),
    Period.WEEK: timedelta(weeks=5),
    Period.MONTH: timedelta(days=400),
}
"""How long a period's board outlives its last hand (`all` is kept for ever)."""


def board_key(game_type: GameType | None, period: Period, at: datetime) -> str:
    """The sorted set of the board holding `at` (`casino:leaderboard:slot:week:2026-W50`;
    `all` for every game)."""
    game = game_type.value if game_type is not None else "all"
    return f"{PREFIX}:{game}:{period_label(period, at)}"


def boards_of(game_type: GameType, played_at: datetime) -> list[tuple[str, int]]:
    """Every board a hand counts on, with its lifetime in seconds (0: for ever)."""
    return [
        (
            board_key(game, period, played_at),
            int(KEPT[period].total_seconds()) if period in KEPT else 0,
        )
        for game in (game_type, None)
        for period in Period
    ]


def counts(currency: str) -> bool:
    """Whether a hand of this currency counts on the boards."""
    return currency == COINS
