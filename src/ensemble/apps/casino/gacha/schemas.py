"""The gacha's bodies and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from ensemble.apps.casino.fairness.schemas import Rate
from ensemble.apps.casino.games.gacha import Tier
from ensemble.kernel.schemas import ClosedRequestModel, Instant, ResponseModel

BANNER_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"


class GachaSpinRequest(ClosedRequestModel):
    banner_id: str = Field(pattern=BANNER_ID, examples=["standard"])
    count: Literal[1, 10] = Field(description="A single pull or a 10-pull (one nonce)")


class RateTablePublish(ClosedRequestModel):
    """A new version of a banner's rates (admins): it applies from `effective_from`, which
    must leave the minimum notice (`CASINO_GACHA_RATE_NOTICE_MINUTES`) after now."""

    effective_from: Instant
    weights: dict[str, int] = Field(
        description="Integer weight of each tier (SSR, SR, R, N); rates are weight / total",
        examples=[{"SSR": 60, "SR": 510, "R": 2430, "N": 7000}],
    )
    pools: dict[str, list[str]] = Field(
        description="Item ids of each tier (collectibles of that tier), in the pick order"
    )


class BannerPublic(ResponseModel):
    banner_id: str
    name: str
    description: str
    currency: str = Field(description="`coins` or `gems`")
    cost_single: int
    cost_ten: int
    hard_pity: int = Field(description="An SSR is guaranteed by this pull since the last one")
    starts_at: datetime
    ends_at: datetime | None
    min_vip_tier: int = Field(description="The VIP tier it is open to, and above (0: all)")


class TableRates(ResponseModel):
    """One version of the rates, disclosed: base (per non-guaranteed pull) and consolidated
    (the long-run share of all pulls, hard pity included)."""

    version: int
    effective_from: datetime
    published_at: datetime
    weights: dict[Tier, int] = Field(description="The tier weights, in the pick order")
    base: dict[Tier, Rate]
    consolidated: dict[Tier, Rate]
    expected_pulls_per_ssr: float
    pools: dict[Tier, list[str]]
    shards_per_duplicate: dict[Tier, int]


class RatesPublic(ResponseModel):
    banner: BannerPublic
    pity_rule: str
    in_force: TableRates | None = Field(description="The version that applies now")
    upcoming: list[TableRates] = Field(description="Published versions not in force yet")


class RateTablePublic(ResponseModel):
    banner_id: str
    version: int
    effective_from: datetime
    published_at: datetime
    weights: dict[str, int]
    pools: dict[str, list[str]]


class VerifiedPull(ResponseModel):
    position: int = Field(description="0 to 9: the pull's rank in its play")
    tier: Tier
    item_id: str
    pity_before: int = Field(description="Pulls since the last SSR before this pull")


class PullPublic(VerifiedPull):
    shards: int = Field(description="Shards it turned into (a duplicate), else 0")


class GachaSpinPublic(ResponseModel):
    """A play as played (the same answer again for a replayed `Idempotency-Key`)."""

    hand_id: uuid.UUID = Field(validation_alias="id")
    banner_id: str
    count: int
    currency: str
    cost: int = Field(validation_alias="bet")
    balance: int = Field(description="Your balance of `currency` after the play")
    pulls: list[PullPublic]
    shards: int = Field(description="Shards from duplicates, in all")
    pity: int = Field(description="Your pity counter on the banner after the play")
    nonce: int
    server_seed_hash: str
    table_version: int
    played_at: datetime


class PullHistoryItem(PullPublic):
    hand_id: uuid.UUID
    banner_id: str
    table_version: int
    nonce: int
    pulled_at: datetime


class GachaOutcome(ResponseModel):
    """Pulls recomputed from revealed data (whether one was a duplicate depends on what you
    held then: see your history)."""

    pulls: list[VerifiedPull]
