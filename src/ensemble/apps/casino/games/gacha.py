"""The gacha: versioned rate tables, hard pity, the consolidated rates, duplicates to shards.

**A pull** takes two floats: the first picks the tier from the table's weights
(`fairness.pick`, in the order SSR, SR, R, N), the second the item, uniformly in the tier's
pool (`pool[int(u * len(pool))]`). The pity counter is the number of pulls since the last
SSR; the pull that brings it to `hard_pity` is an SSR whatever its first float says (its
item still comes from the second). An SSR resets the counter to 0. So no member ever makes
more than `hard_pity` pulls without an SSR.

**The consolidated rates** (what a member gets in the long run, pity included). Let `p` be
the base SSR rate and `N` the hard pity. The pulls between two SSRs form independent,
identical cycles (a renewal process): the cycle ends at pull `k < N` with probability
`(1-p)^(k-1) p` and at pull `N` with the rest, `(1-p)^(N-1)`. Its expected length is
`E[L] = Σ_{k=0}^{N-1} (1-p)^k = (1 - (1-p)^N) / p`, and by the renewal-reward theorem the
long-run SSR rate is `1 / E[L] = p / (1 - (1-p)^N)`. Every other pull is a non-pity pull
that missed SSR, so tier `t` ≠ SSR gets `(1 - 1/E[L]) · w_t / (1 - p)`. All exact
(`Fraction`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from functools import cached_property
from typing import NamedTuple

from ensemble.apps.casino.games.fairness import MAX_WEIGHT_TOTAL, pick

HARD_PITY = 90
FLOATS_PER_PULL = 2


class Tier(enum.StrEnum):
    SSR = "SSR"
    SR = "SR"
    R = "R"
    N = "N"


SHARDS_PER_DUPLICATE: Mapping[Tier, int] = {Tier.SSR: 40, Tier.SR: 10, Tier.R: 2, Tier.N: 1}


class NoTableInForce(LookupError):
    """No rate table of the banner is effective yet at that instant."""


@dataclass(frozen=True)
class RateTable:
    """One version of a banner's rates: integer weights per tier (their total is the
    denominator, e.g. 10,000 for rates in basis points) and the items of each tier."""

    version: int
    effective_from: datetime
    weights: Mapping[Tier, int]
    pools: Mapping[Tier, tuple[str, ...]]
    shards: Mapping[Tier, int] = field(default_factory=lambda: dict(SHARDS_PER_DUPLICATE))

    def __post_init__(self) -> None:
        if self.effective_from.tzinfo is None:
            raise ValueError("effective_from is an aware instant")
        if set(self.weights) != set(Tier) or any(w < 0 for w in self.weights.values()):
            raise ValueError("a table weighs every tier, never negatively")
        if not 0 < self.weights[Tier.SSR] < self.total < MAX_WEIGHT_TOTAL:
            raise ValueError("SSR is possible but not certain; the total stays below 2**21")
        if any(self.weights[t] and not self.pools.get(t) for t in Tier):
            raise ValueError("every tier that can be drawn has items")

    @property
    def total(self) -> int:
        return sum(self.weights.values())

    def base_rates(self) -> dict[Tier, Fraction]:
        return {tier: Fraction(self.weights[tier], self.total) for tier in Tier}

    @cached_property
    def tier_weights(self) -> tuple[tuple[Tier, int], ...]:
        """The weights in the published (pick) order: SSR, SR, R, N."""
        return tuple((tier, self.weights[tier]) for tier in Tier)


def table_at(tables: Iterable[RateTable], instant: datetime) -> RateTable:
    """The table in force at `instant`: the latest `effective_from` not after it."""
    in_force = [table for table in tables if table.effective_from <= instant]
    if not in_force:
        raise NoTableInForce(f"no rate table is in force at {instant.isoformat()}")
    return max(in_force, key=lambda table: (table.effective_from, table.version))


class Pull(NamedTuple):
    tier: Tier
    item: str
    new_pity: int


def is_pity_pull(pity_counter: int, hard_pity: int = HARD_PITY) -> bool:
    """Whether the next pull is the guaranteed SSR."""
    return pity_counter + 1 >= hard_pity


def pull(
    floats: Sequence[float], table: RateTable, pity_counter: int, hard_pity: int = HARD_PITY
) -> Pull:
    """One pull from `floats[0:2]` (module docstring). Draw them with
    `fairness.floats(..., table_version=table.version, count=2)`."""
    if pity_counter < 0 or hard_pity < 1:
        raise ValueError("the pity counter is never negative; hard pity is at least 1")
    if len(floats) < FLOATS_PER_PULL:
        raise ValueError(f"a pull takes {FLOATS_PER_PULL} floats")
    u_tier, u_item = floats[0], floats[1]
    tier = Tier.SSR if is_pity_pull(pity_counter, hard_pity) else pick(u_tier, table.tier_weights)
    pool = table.pools[tier]
    item = pool[int(u_item * len(pool))]
    return Pull(tier, item, 0 if tier is Tier.SSR else pity_counter + 1)


def pulls(
    floats: Sequence[float],
    table: RateTable,
    pity_counter: int,
    count: int,
    hard_pity: int = HARD_PITY,
) -> list[Pull]:
    """`count` pulls of one play (a 10-pull is one nonce): pull `i` takes floats `2i, 2i+1`
    and the counter the previous pull left."""
    out: list[Pull] = []
    for i in range(count):
        out.append(pull(floats[FLOATS_PER_PULL * i :], table, pity_counter, hard_pity))
        pity_counter = out[-1].new_pity
    return out


def ssr_gap_distribution(table: RateTable, hard_pity: int = HARD_PITY) -> dict[int, Fraction]:
    """The exact law of the number of pulls from one SSR to the next (1 to `hard_pity`)."""
    p = table.base_rates()[Tier.SSR]
    law = {k: (1 - p) ** (k - 1) * p for k in range(1, hard_pity)}
    law[hard_pity] = (1 - p) ** (hard_pity - 1)
    return law


def expected_pulls_per_ssr(table: RateTable, hard_pity: int = HARD_PITY) -> Fraction:
    """`E[L] = (1 - (1-p)^N) / p` (module docstring)."""
    p = table.base_rates()[Tier.SSR]
    return (1 - (1 - p) ** hard_pity) / p


def consolidated_rates(table: RateTable, hard_pity: int = HARD_PITY) -> dict[Tier, Fraction]:
    """Each tier's long-run share of all pulls, pity included (module docstring)."""
    base = table.base_rates()
    ssr = 1 / expected_pulls_per_ssr(table, hard_pity)
    rest = (1 - ssr) / (1 - base[Tier.SSR])
    return {tier: ssr if tier is Tier.SSR else rest * base[tier] for tier in Tier}


@dataclass(frozen=True)
class Grants:
    """What a play grants: items new to the member, and shards for the duplicates."""

    items: tuple[str, ...]
    shards: int


def grants(pulled: Iterable[Pull], owned: Set[str], table: RateTable) -> Grants:
    """The first copy of an item is the item; every further copy (already owned, or pulled
    earlier in the same play) converts to the table's shards for its tier."""
    seen = set(owned)
    items: list[str] = []
    shards = 0
    for result in pulled:
        if result.item in seen:
            shards += table.shards[result.tier]
        else:
            seen.add(result.item)
            items.append(result.item)
    return Grants(tuple(items), shards)


def shards_per_pull(pulled: Iterable[Pull], owned: Set[str], table: RateTable) -> list[int]:
    """What each pull turned into, as `grants` counts it: 0 for a granted item, the table's
    shards for its tier for a duplicate."""
    seen = set(owned)
    out: list[int] = []
    for result in pulled:
        out.append(table.shards[result.tier] if result.item in seen else 0)
        seen.add(result.item)
    return out
