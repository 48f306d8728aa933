"""Leaderboards' response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from ensemble.apps.casino.domain import GameType, Period
from ensemble.kernel.schemas import ResponseModel


class LeaderboardEntry(ResponseModel):
    rank: int = Field(description="1 for the top; equal scores are ordered by member id")
    user_id: uuid.UUID
    nickname: str
    score: int = Field(description="Net coin winnings in the period (coins won − coins bet)")


class LeaderboardPublic(ResponseModel):
    game_type: GameType | None = Field(description="The game (null: every game)")
    period: Period
    period_start: datetime | None = Field(description="UTC; null for `all`")
    entries: list[LeaderboardEntry] = Field(description="The top `limit`")
    me: LeaderboardEntry | None = Field(description="You (null: no coin hand in the period)")
    around: list[LeaderboardEntry] | None = Field(
        description="With `around_me=true`: `limit` entries centred on yours (empty when you"
        " are not on the board); null otherwise"
    )
