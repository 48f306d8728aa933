"""Game sessions' and stats' request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ensemble.apps.casino.domain import GameType, Period
from ensemble.kernel.schemas import ClosedRequestModel, FromText, ResponseModel, RowId


class SessionStart(ClosedRequestModel):
    game_type: FromText[GameType]


class GameSessionPublic(ResponseModel):
    session_id: RowId
    game_type: GameType
    started_at: datetime
    ended_at: datetime | None = Field(description="Null while the session is open")
    play_seconds: int = Field(description="ended_at − started_at (so far, while open)")


class StatsPublic(ResponseModel):
    """What any member sees of a member's play in a period."""

    game_type: GameType | None = Field(description="The game asked for (null: every game)")
    period: Period
    period_start: datetime | None = Field(description="UTC; null for `all`")
    games_played: int
    wins: int = Field(description="Hands that paid more than they cost")
    win_rate: float = Field(description="wins / games_played (0 without games)")
    favourite_game: GameType | None = Field(description="The game played most (null: none)")
    best_win: int = Field(description="The largest coin gain of one hand (payout − bet)")
    longest_win_streak: int
    is_own: Literal[False] = False


class StatsFull(StatsPublic):
    """Your own stats: also your net result and play time."""

    net_result: int = Field(description="Coins won minus coins bet")
    play_seconds: int = Field(description="Time in game sessions within the period")
    is_own: Literal[True] = True  # type: ignore[assignment]
