"""Slot spins (A3): the bet debited and the win credited through the ledger, the member's
win streak and the hand, all in the caller's transaction. Never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.domain import COINS, GameType
from ensemble.apps.casino.fairness import service as plays
from ensemble.apps.casino.games import slot
from ensemble.apps.casino.limits import service as responsible_play
from ensemble.apps.casino.models import Hand
from ensemble.apps.casino.service import charge
from ensemble.kernel.db import utcnow
from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.errors import InvalidInput
from ensemble.kernel.ledger import service as ledger

BET = "slot_bet"
WIN = "slot_win"
"""The ledger reasons of a spin's debit and credit."""


class BetOutOfBounds(InvalidInput):
    code = "bet_out_of_bounds"
    message = "The bet is outside the slot's bounds."


@dataclass(frozen=True)
class BetBounds:
    min_bet: int
    max_bet: int

    def check(self, bet: int) -> None:
        if not self.min_bet <= bet <= self.max_bet:
            raise BetOutOfBounds(
                details={"bet": bet, "min_bet": self.min_bet, "max_bet": self.max_bet}
            )


_STREAK = """
INSERT INTO casino.slot_streaks AS streak (user_id, current, best, updated_at)
VALUES ($1, $2::int, $2::int, $3)
ON CONFLICT (user_id) DO UPDATE SET
    current = CASE WHEN $2::int = 1 THEN streak.current + 1 ELSE 0 END,
    best = CASE WHEN $2::int = 1 THEN greatest(streak.best, streak.current + 1)
                ELSE streak.best END,
    updated_at = $3
RETURNING current, best
"""
"""+1 on a win ($2 = 1), 0 on a loss, in one upsert."""


async def _record_streak(session: AsyncSession, user_id: uuid.UUID, *, won: bool) -> dict[str, int]:
    """The member's win streak after this spin."""
    connection = await transaction_connection(session)
    row = await connection.fetchrow(_STREAK, user_id, int(won), utcnow())
    assert row is not None, "an upsert returns its row"
    return {"current": row["current"], "best": row["best"]}


def _outcome(result: slot.Outcome, balance: int, streak: dict[str, int]) -> dict[str, Any]:
    """What the hand shows: reels and line, and the member's state right after it."""
    return {
        "reels": [str(stop) for stop in result.stops],
        "multiplier": result.multiplier,
        "win": result.win,
        "balance": balance,
        "streak": streak,
    }


async def spin(
    session: AsyncSession,
    user_id: uuid.UUID,
    bet: int,
    *,
    bounds: BetBounds,
    idempotency_key: str | None = None,
    paytable: slot.Paytable = slot.PAYTABLE,
    redis: Redis | None = None,
) -> Hand:
    """One spin: 422 `bet_out_of_bounds`, 409 `insufficient_coins` (nothing written), or
    the hand. Under an `Idempotency-Key` already played, that hand (409
    `idempotency_key_reused` if its bet differs)."""
    bounds.check(bet)
    hand_id = plays.hand_id(user_id, GameType.SLOT, idempotency_key)
    if (replayed := await plays.played(session, user_id, hand_id, idempotency_key)) is not None:
        if replayed.game_type is not GameType.SLOT or replayed.bet != bet:
            raise plays.KeyReused()
        return replayed
    draw = await plays.advance(session, user_id)
    result = slot.spin(draw.floats(paytable.version, paytable.reels), bet, paytable)
    now = utcnow()
    await responsible_play.charge_play(
        session, user_id, spent=bet, won=result.win, currency=COINS, now=now
    )
    reference = str(hand_id)
    entry = await charge(
        session,
        user_id,
        COINS,
        bet,
        reason=BET,
        reference_id=reference,
        idempotency_key=f"slot:{reference}:bet",
    )
    if result.win:
        entry = await ledger.earn(
            session,
            account_id=entry.account_id,
            amount=result.win,
            reason=WIN,
            reference_type="hand",
            reference_id=reference,
            idempotency_key=f"slot:{reference}:win",
        )
    streak = await _record_streak(session, user_id, won=result.win > 0)
    hand = Hand(
        id=hand_id,
        user_id=user_id,
        game_type=GameType.SLOT,
        currency=COINS,
        bet=bet,
        payout=result.win,
        server_seed_hash=draw.server_seed_hash,
        nonce=draw.nonce,
        table_version=paytable.version,
        outcome=_outcome(result, entry.balance_after, streak),
        played_at=now,
    )
    await plays.add_hand(session, hand, redis=redis)
    return hand
