"""Casino gacha, 1,000,000 pulls through the play's pure path (`fairness.floats` then
`gacha.pulls`, as `gacha.service.spin` calls them) with seeded seeds: χ² of non-pity pulls
against the base table, the SSR rate against the consolidated rate, the longest run
without an SSR, pulls per second. Printed, not asserted.

    python bench/casino_gacha.py [pulls]
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from datetime import UTC, datetime

from ensemble.apps.casino.games import fairness, gacha
from ensemble.apps.casino.games.gacha import RateTable, Tier

WEIGHTS = {Tier.SSR: 60, Tier.SR: 510, Tier.R: 2430, Tier.N: 7000}
TABLE = RateTable(
    version=1,
    effective_from=datetime(2026, 1, 1, tzinfo=UTC),
    weights=WEIGHTS,
    pools={tier: (f"{tier}-item",) for tier in Tier},
)
HARD_PITY = 90


def chi_square_p(observed: dict[Tier, int], total: int) -> tuple[float, float]:
    """χ² statistic and its p-value (3 degrees of freedom: closed form)."""
    weight_total = sum(WEIGHTS.values())
    chi = sum(
        (observed[t] - total * WEIGHTS[t] / weight_total) ** 2 / (total * WEIGHTS[t] / weight_total)
        for t in Tier
    )
    p = math.erfc(math.sqrt(chi / 2)) + math.sqrt(2 * chi / math.pi) * math.exp(-chi / 2)
    return chi, p


def main(total: int) -> None:
    server_seed = hashlib.sha256(b"bench-casino-gacha").hexdigest()
    observed = dict.fromkeys(Tier, 0)
    ssr = pity = longest = dry = 0
    started = time.perf_counter()
    nonce = 0
    while nonce * 10 < total:
        nonce += 1
        floats = fairness.floats(server_seed, "bench", nonce, TABLE.version, 20)
        for result in gacha.pulls(floats, TABLE, pity, 10, HARD_PITY):
            if not gacha.is_pity_pull(pity, HARD_PITY):
                observed[result.tier] += 1
            if result.tier is Tier.SSR:
                ssr += 1
                dry = 0
            else:
                dry += 1
                longest = max(longest, dry)
            pity = result.new_pity
    elapsed = time.perf_counter() - started
    pulls = nonce * 10
    chi, p = chi_square_p(observed, sum(observed.values()))
    expected = float(gacha.consolidated_rates(TABLE, HARD_PITY)[Tier.SSR])
    sigma = math.sqrt(expected * (1 - expected) / pulls)
    print(f"pulls {pulls:,} in {elapsed:.1f} s: {pulls / elapsed:,.0f} pulls/s")
    print(f"non-pity χ² = {chi:.2f}, p = {p:.4f} (want p > 0.001)")
    print(
        f"SSR rate {ssr / pulls:.5f} vs consolidated {expected:.5f}:"
        f" {(ssr / pulls - expected) / sigma:+.2f} σ (want within ±4)"
    )
    print(f"longest run without SSR: {longest} (hard pity {HARD_PITY}: < {HARD_PITY})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
