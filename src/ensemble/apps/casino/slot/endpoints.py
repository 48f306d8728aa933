"""`GET /api/games/slot/paytable`, `POST /api/games/slot/spin` (and the seed's
`POST /api/actions/SLOT_SPIN`)."""

from __future__ import annotations

from fastapi import APIRouter

from ensemble.apps.casino.auth import CurrentUser
from ensemble.apps.casino.fairness.schemas import IdempotencyKey, Rate
from ensemble.apps.casino.games.slot import PAYTABLE
from ensemble.apps.casino.limits.schemas import PLAY_REFUSED
from ensemble.apps.casino.schemas import INPUT, PREFIX, USER, errors
from ensemble.apps.casino.settings import CasinoDep, CasinoSettings
from ensemble.apps.casino.slot import service as slot
from ensemble.apps.casino.slot.schemas import (
    Payout,
    PaytablePublic,
    ReelStop,
    SpinPublic,
    SpinRequest,
)
from ensemble.kernel.db import SessionDep
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=PREFIX, tags=["slot"])

SPIN_ERRORS = errors(
    *INPUT,
    PLAY_REFUSED,
    (409, "Not enough coins (`insufficient_coins`; nothing is written), a responsible-play"
     " limit (`limit_reached`), or the `Idempotency-Key` was used for another play"
     " (`idempotency_key_reused`)"),
)  # fmt: skip


def bounds_of(settings: CasinoSettings) -> slot.BetBounds:
    return slot.BetBounds(settings.slot_min_bet, settings.slot_max_bet)


@router.get("/games/slot/paytable", responses=errors(*USER))
async def paytable(user: CurrentUser, casino: CasinoDep) -> PaytablePublic:
    """The published paytable, with its return to player and hit rate computed exactly
    from it, and the bet bounds."""
    bounds = bounds_of(casino.settings)
    law = PAYTABLE.distribution()
    return PaytablePublic(
        version=PAYTABLE.version,
        reels=PAYTABLE.reels,
        strip=[ReelStop(symbol=symbol, weight=weight) for symbol, weight in PAYTABLE.reel],
        total_weight=PAYTABLE.total_weight,
        three_of_a_kind=dict(PAYTABLE.three_of_a_kind),
        pairs=dict(PAYTABLE.pairs),
        rtp=Rate.of(PAYTABLE.rtp()),
        hit_rate=Rate.of(PAYTABLE.hit_rate()),
        payouts=[Payout(multiplier=m, probability=Rate.of(p)) for m, p in sorted(law.items())],
        min_bet=bounds.min_bet,
        max_bet=bounds.max_bet,
    )


@router.post("/games/slot/spin", responses=SPIN_ERRORS)
@router.post("/actions/SLOT_SPIN", responses=SPIN_ERRORS)
async def spin(
    body: SpinRequest,
    user: CurrentUser,
    session: SessionDep,
    casino: CasinoDep,
    idempotency_key: IdempotencyKey = None,
) -> SpinPublic:
    """Spin: the bet is debited and the win credited in one transaction. The reels come
    from your committed seed pair and the next nonce (verify them after a rotation)."""
    hand = await slot.spin(
        session,
        user.account_id,
        body.bet,
        bounds=bounds_of(casino.settings),
        idempotency_key=idempotency_key,
        redis=casino.redis,
    )
    return SpinPublic.model_validate(Extended(hand, **hand.outcome))
