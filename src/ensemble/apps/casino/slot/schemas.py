"""The slot's bodies and answers."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from ensemble.apps.casino.fairness.schemas import Rate
from ensemble.apps.casino.games.slot import Symbol
from ensemble.kernel.schemas import ClosedRequestModel, ResponseModel


class SpinRequest(ClosedRequestModel):
    bet: int = Field(description="Coins staked (within the paytable's `min_bet`–`max_bet`)")


class ReelStop(ResponseModel):
    symbol: Symbol
    weight: int


class Payout(ResponseModel):
    multiplier: int
    probability: Rate


class PaytablePublic(ResponseModel):
    """The published paytable: every reel stops on the same strip, one float per reel."""

    version: int
    reels: int
    strip: list[ReelStop] = Field(description="The strip, in the published (pick) order")
    total_weight: int
    three_of_a_kind: dict[Symbol, int] = Field(description="Multiplier when all reels match")
    pairs: dict[Symbol, int] = Field(description="Multiplier when exactly two reels show it")
    rtp: Rate = Field(description="Return to player: the expected multiplier of a spin")
    hit_rate: Rate = Field(description="The probability that a spin pays anything")
    payouts: list[Payout] = Field(description="The exact law of the multiplier")
    min_bet: int
    max_bet: int


class Streak(ResponseModel):
    current: int = Field(description="Winning spins in a row, this one included")
    best: int


class SpinPublic(ResponseModel):
    """A spin as played (the same answer again for a replayed `Idempotency-Key`)."""

    hand_id: uuid.UUID = Field(validation_alias="id")
    reels: list[Symbol]
    bet: int
    multiplier: int
    win: int = Field(description="Coins credited (0 on a loss); the bet is debited apart")
    balance: int = Field(description="Your coins after the spin")
    nonce: int
    server_seed_hash: str
    table_version: int = Field(description="The paytable version played")
    streak: Streak
    played_at: datetime


class SlotOutcome(ResponseModel):
    """A spin recomputed from revealed data."""

    reels: list[Symbol]
    multiplier: int
    win: int
