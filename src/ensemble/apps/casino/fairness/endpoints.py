"""`/api/fairness`: your commitment, client seed, rotation, revealed seeds, verification."""

from __future__ import annotations

import enum
from typing import Annotated

from fastapi import APIRouter, Query

from ensemble.apps.casino.auth import CurrentUser
from ensemble.apps.casino.fairness import service as seeds
from ensemble.apps.casino.fairness.models import SeedPair
from ensemble.apps.casino.fairness.schemas import (
    ClientSeed,
    ClientSeedRequest,
    Commitment,
    RevealedPair,
    Rotation,
)
from ensemble.apps.casino.gacha import service as gacha_service
from ensemble.apps.casino.gacha.schemas import BANNER_ID, GachaOutcome, VerifiedPull
from ensemble.apps.casino.games import fairness, gacha, slot
from ensemble.apps.casino.schemas import INPUT, PREFIX, USER, errors
from ensemble.apps.casino.slot.schemas import SlotOutcome
from ensemble.kernel.db import SessionDep
from ensemble.kernel.errors import InvalidInput, NotFound
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended, IntegerLiteral

router = APIRouter(prefix=PREFIX, tags=["fairness"])


class Game(enum.StrEnum):
    SLOT = "slot"
    GACHA = "gacha"


class SeedMismatch(InvalidInput):
    code = "server_seed_mismatch"
    message = "The server seed does not hash to the server seed hash."


class PaytableNotFound(NotFound):
    code = "paytable_not_found"
    message = "No slot paytable has that version."


PAYTABLES = {slot.PAYTABLE.version: slot.PAYTABLE}


def _commitment(pair: SeedPair) -> Commitment:
    return Commitment.model_validate(Extended(pair, next_nonce=pair.nonce + 1))


def _rotation(revealed: SeedPair, current: SeedPair) -> Rotation:
    return Rotation(revealed=RevealedPair.model_validate(revealed), current=_commitment(current))


@router.get("/fairness", responses=errors(*USER))
async def commitment(user: CurrentUser, session: SessionDep) -> Commitment:
    """The seed pair your next plays use: the server seed's hash (the seed stays secret
    until you rotate), your client seed and the next nonce."""
    return _commitment(await seeds.current(session, user.account_id))


@router.put("/fairness/client-seed", responses=errors(*INPUT))
async def set_client_seed(
    body: ClientSeedRequest, user: CurrentUser, session: SessionDep
) -> Rotation:
    """Set your client seed. As on every provably fair site, this starts a new seed pair:
    the pair in use is revealed (its plays become verifiable) and a new server seed is
    committed, played with your seed from nonce 1."""
    return _rotation(*await seeds.rotate(session, user.account_id, body.client_seed))


@router.post("/fairness/rotate", responses=errors(*USER))
async def rotate(user: CurrentUser, session: SessionDep) -> Rotation:
    """Reveal the server seed in use and commit a new one (your client seed is kept)."""
    return _rotation(*await seeds.rotate(session, user.account_id))


@router.get("/fairness/seeds", responses=errors(*INPUT))
async def revealed(user: CurrentUser, session: SessionDep, page: PageDep) -> Page[RevealedPair]:
    """Your revealed seed pairs, the latest first."""
    found = await seeds.revealed_pairs(session, user.account_id, page)
    return found.map(RevealedPair.model_validate)


NonNegative = Annotated[int, Query(ge=0, le=2**53), IntegerLiteral]


@router.get(
    "/fairness/verify",
    responses=errors(
        *INPUT,
        (404, "No such paytable, banner or rate table version (`paytable_not_found`,"
         " `banner_not_found`, `rate_table_not_found`)"),
    ),
)  # fmt: skip
async def verify(
    user: CurrentUser,
    session: SessionDep,
    server_seed: Annotated[str, Query(min_length=1, max_length=256)],
    server_seed_hash: Annotated[str, Query(pattern=r"^[0-9a-fA-F]{64}$")],
    client_seed: Annotated[ClientSeed, Query()],
    nonce: NonNegative,
    table_version: NonNegative,
    game: Game,
    banner_id: Annotated[str | None, Query(pattern=BANNER_ID)] = None,
    pity: Annotated[int, Query(ge=0, le=10_000), IntegerLiteral] = 0,
    count: Annotated[int, Query(ge=1, le=10), IntegerLiteral] = 1,
    bet: Annotated[int, Query(ge=1, le=2**53), IntegerLiteral] = 1,
) -> SlotOutcome | GachaOutcome:
    """Recompute a past play from revealed data (422 `server_seed_mismatch` if the seed is
    not the one committed to): a slot spin (`bet`), or a gacha play (`banner_id`, the
    `pity` counter before it, `count`)."""
    if game is Game.SLOT:
        paytable = PAYTABLES.get(table_version)
        if paytable is None:
            raise PaytableNotFound(details={"table_version": table_version})
        floats = _floats(
            server_seed, server_seed_hash, client_seed, nonce, table_version, paytable.reels
        )
        outcome = slot.spin(floats, bet, paytable)
        return SlotOutcome(
            reels=list(outcome.stops), multiplier=outcome.multiplier, win=outcome.win
        )
    if banner_id is None:
        raise InvalidInput(
            "`banner_id` is required for the gacha.", details={"missing": "banner_id"}
        )
    if count not in gacha_service.COUNTS:
        raise InvalidInput("A play is 1 or 10 pulls.", details={"count": count})
    banner = await gacha_service.banner(session, banner_id)
    table = await gacha_service.version_of(session, banner_id, table_version)
    count_floats = gacha.FLOATS_PER_PULL * count
    floats = _floats(server_seed, server_seed_hash, client_seed, nonce, table_version, count_floats)
    pulled = gacha.pulls(floats, table, pity, count, banner.hard_pity)
    befores = [pity, *(p.new_pity for p in pulled[:-1])]
    return GachaOutcome(
        pulls=[
            VerifiedPull(position=i, tier=p.tier, item_id=p.item, pity_before=before)
            for i, (p, before) in enumerate(zip(pulled, befores, strict=True))
        ]
    )


def _floats(
    server_seed: str, server_seed_hash: str, client_seed: str, nonce: int, version: int, count: int
) -> list[float]:
    try:
        return fairness.verify(server_seed, server_seed_hash, client_seed, nonce, version, count)
    except fairness.CommitmentMismatch as exc:
        raise SeedMismatch(details={"server_seed_hash": server_seed_hash}) from exc
