"""Rows the games would write (hands) and past game sessions, for the activity tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ensemble.apps.casino.domain import COINS, GameType
from ensemble.apps.casino.models import Hand
from ensemble.apps.casino.sessions.models import GameSession
from ensemble.kernel.db import Database, new_id


@dataclass(frozen=True)
class Play:
    """A hand to write: who, what it cost and paid, when."""

    user_id: uuid.UUID
    bet: int
    payout: int
    played_at: datetime
    game_type: GameType = GameType.SLOT
    currency: str = COINS


def hand_of(play: Play) -> Hand:
    return Hand(
        id=new_id(),
        user_id=play.user_id,
        game_type=play.game_type,
        currency=play.currency,
        bet=play.bet,
        payout=play.payout,
        server_seed_hash="0" * 64,
        nonce=0,
        table_version=1,
        outcome={},
        played_at=play.played_at,
    )


async def add_hands(database: Database, plays: Sequence[Play]) -> list[Hand]:
    hands = [hand_of(play) for play in plays]
    async with database.unit_of_work() as session:
        session.add_all(hands)
    return hands


async def add_session(
    database: Database,
    user_id: uuid.UUID,
    started_at: datetime,
    ended_at: datetime | None,
    game_type: GameType = GameType.SLOT,
) -> None:
    async with database.unit_of_work() as session:
        session.add(
            GameSession(
                user_id=user_id, game_type=game_type, started_at=started_at, ended_at=ended_at
            )
        )
