"""The gacha: the table in force, hard pity (a property over random pull sequences), the
consolidated rates cross-checked by a Markov chain, χ² of non-pity pulls against the base
table and the simulated SSR rate against the consolidated one, duplicates to shards."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ensemble.apps.casino.games.gacha import (
    FLOATS_PER_PULL,
    HARD_PITY,
    NoTableInForce,
    Pull,
    RateTable,
    Tier,
    consolidated_rates,
    expected_pulls_per_ssr,
    grants,
    is_pity_pull,
    pull,
    pulls,
    shards_per_pull,
    ssr_gap_distribution,
    table_at,
)
from tests.apps.casino.games.conftest import seeded_floats, within_4_sigma

T0 = datetime(2026, 3, 1, tzinfo=UTC)
POOLS = {
    Tier.SSR: ("dragon_crown", "phoenix_wing"),
    Tier.SR: ("silver_dice", "lucky_cat", "golden_chip"),
    Tier.R: ("red_chip", "blue_chip", "green_chip", "card_sleeve"),
    Tier.N: ("coin_pouch", "paper_fan", "tin_badge", "clover", "ribbon"),
}
BASE = {Tier.SSR: 60, Tier.SR: 510, Tier.R: 2430, Tier.N: 7000}  # basis points


def table(version: int = 1, at: datetime = T0, weights: dict[Tier, int] = BASE) -> RateTable:
    return RateTable(version=version, effective_from=at, weights=weights, pools=POOLS)


TABLE = table()
NO_SSR = 0.99  # a first float that picks N from TABLE
SSR = 0.001  # a first float that picks SSR from TABLE


# the table in force


def test_the_table_in_force_is_the_latest_that_has_started() -> None:
    tables = [table(2, T0 + timedelta(days=7)), table(1, T0), table(3, T0 + timedelta(days=14))]
    assert table_at(tables, T0).version == 1
    assert table_at(tables, T0 + timedelta(days=7) - timedelta(microseconds=1)).version == 1
    assert table_at(tables, T0 + timedelta(days=7)).version == 2
    assert table_at(tables, T0 + timedelta(days=365)).version == 3


def test_no_table_before_the_first_one_starts() -> None:
    with pytest.raises(NoTableInForce):
        table_at([table(1, T0)], T0 - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("at", "weights", "pools"),
    [
        (datetime(2026, 3, 1), BASE, POOLS),  # naive instant
        (T0, {Tier.SSR: 1, Tier.SR: 1, Tier.R: 1}, POOLS),  # a tier missing
        (T0, {**BASE, Tier.SSR: 0}, POOLS),  # SSR impossible
        (T0, {Tier.SSR: 5, Tier.SR: 0, Tier.R: 0, Tier.N: 0}, POOLS),  # SSR certain
        (T0, {**BASE, Tier.N: -1}, POOLS),
        (T0, {**BASE, Tier.N: 2**21}, POOLS),
        (T0, BASE, {**POOLS, Tier.R: ()}),  # a drawable tier without items
    ],
)
def test_a_malformed_table_is_refused(
    at: datetime, weights: dict[Tier, int], pools: dict[Tier, tuple[str, ...]]
) -> None:
    with pytest.raises(ValueError, match=r"instant|tier|SSR|items"):
        RateTable(version=1, effective_from=at, weights=weights, pools=pools)


# one pull


def test_a_pull_picks_the_tier_then_the_item() -> None:
    assert pull([NO_SSR, 0.0], TABLE, 0) == Pull(Tier.N, "coin_pouch", 1)
    assert pull([NO_SSR, 0.999], TABLE, 5) == Pull(Tier.N, "ribbon", 6)
    assert pull([0.01, 0.5], TABLE, 5) == Pull(Tier.SR, "lucky_cat", 6)


def test_an_ssr_resets_the_counter() -> None:
    assert pull([SSR, 0.7], TABLE, 42) == Pull(Tier.SSR, "phoenix_wing", 0)


def test_the_pull_reaching_hard_pity_is_an_ssr_whatever_its_float() -> None:
    assert is_pity_pull(HARD_PITY - 1)
    assert not is_pity_pull(HARD_PITY - 2)
    assert pull([NO_SSR, 0.2], TABLE, HARD_PITY - 1) == Pull(Tier.SSR, "dragon_crown", 0)
    assert pull([NO_SSR, 0.2], TABLE, HARD_PITY - 2).tier is Tier.N
    assert pull([NO_SSR, 0.2], TABLE, 9, hard_pity=10).tier is Tier.SSR
    assert pull([NO_SSR, 0.2], TABLE, 200).tier is Tier.SSR  # hard pity lowered since


@pytest.mark.parametrize(
    ("floats", "pity", "hard"), [([0.5], 0, 90), ([0.5, 0.5], -1, 90), ([0.5, 0.5], 0, 0)]
)
def test_bad_pull_inputs_are_refused(floats: list[float], pity: int, hard: int) -> None:
    with pytest.raises(ValueError, match=r"floats|pity"):
        pull(floats, TABLE, pity, hard)


def test_a_ten_pull_chains_pulls_over_consecutive_float_pairs() -> None:
    floats = seeded_floats(10)(10 * FLOATS_PER_PULL)
    ten = pulls(floats, TABLE, HARD_PITY - 3, 10)
    counter = HARD_PITY - 3
    for i, result in enumerate(ten):
        assert result == pull(floats[2 * i : 2 * i + 2], TABLE, counter)
        counter = result.new_pity
    assert Tier.SSR in {result.tier for result in ten[:3]}


# pity is never exceeded (property)

RARE = table(weights={Tier.SSR: 1, Tier.SR: 100, Tier.R: 1000, Tier.N: 2**20})
"""A table whose SSR almost never comes by chance, so sequences do reach the hard pity."""


@settings(max_examples=300, deadline=None)
@given(
    floats=st.lists(
        st.floats(min_value=0.0, max_value=1.0, exclude_max=True), min_size=2, max_size=600
    ),
    hard_pity=st.integers(min_value=1, max_value=120),
    start=st.integers(min_value=0, max_value=119),
    rare=st.booleans(),
)
def test_no_sequence_of_pulls_goes_past_the_hard_pity(
    floats: list[float], hard_pity: int, start: int, rare: bool
) -> None:
    counter = min(start, hard_pity - 1)
    since_ssr = counter
    for result in pulls(floats, RARE if rare else TABLE, counter, len(floats) // 2, hard_pity):
        since_ssr += 1
        assert since_ssr <= hard_pity
        assert result.new_pity == (0 if result.tier is Tier.SSR else since_ssr)
        assert result.new_pity < hard_pity
        since_ssr = result.new_pity


# the consolidated rates


def stationary_ssr_rate(p: Fraction, hard_pity: int) -> Fraction:
    """The Markov argument: the counter 0..N-1 is a chain that moves up with 1-p and back
    to 0 with p (with 1 from N-1). Its stationary law is π_k ∝ (1-p)^k; the SSR rate is the
    probability of the move back to 0."""
    weights = [(1 - p) ** k for k in range(hard_pity)]
    pi = [w / sum(weights) for w in weights]
    return p * sum(pi[:-1]) + pi[-1]


@pytest.mark.parametrize("hard_pity", [1, 2, 10, 90, 120])
def test_the_consolidated_rates_agree_with_the_markov_chain(hard_pity: int) -> None:
    rates = consolidated_rates(TABLE, hard_pity)
    assert rates[Tier.SSR] == stationary_ssr_rate(Fraction(60, 10_000), hard_pity)
    assert sum(rates.values()) == 1
    gaps = ssr_gap_distribution(TABLE, hard_pity)
    assert sum(gaps.values()) == 1
    assert sum(k * p for k, p in gaps.items()) == expected_pulls_per_ssr(TABLE, hard_pity)


def test_the_consolidated_rates_of_the_default_table() -> None:
    rates = consolidated_rates(TABLE)
    p = Fraction(60, 10_000)
    assert rates[Tier.SSR] == p / (1 - (1 - p) ** 90)
    assert round(float(rates[Tier.SSR]), 5) == 0.01435
    assert rates[Tier.SR] / rates[Tier.R] == Fraction(510, 2430)  # the rest keeps its ratios
    assert consolidated_rates(TABLE, 1)[Tier.SSR] == 1
    assert p < consolidated_rates(TABLE, 10_000)[Tier.SSR] < p * Fraction(100_001, 100_000)


# 200k pulls


@pytest.fixture(scope="module")
def history() -> list[tuple[int, Pull]]:
    """200k pulls of one member: (the counter before, the pull)."""
    draw, counter = seeded_floats(90), 0
    out = []
    for _ in range(200_000):
        result = pull(draw(2), TABLE, counter)
        out.append((counter, result))
        counter = result.new_pity
    return out


def test_non_pity_pulls_fit_the_base_table_chi_square(history: list[tuple[int, Pull]]) -> None:
    free = [result.tier for counter, result in history if not is_pity_pull(counter)]
    base = TABLE.base_rates()
    chi2 = sum(
        (free.count(tier) - len(free) * rate) ** 2 / (len(free) * rate)
        for tier, rate in base.items()
    )
    assert chi2 < 16.266  # critical value, 3 degrees of freedom, p = 0.001


def test_the_ssr_rate_matches_the_consolidated_rate_within_4_sigma(
    history: list[tuple[int, Pull]],
) -> None:
    """Renewal CLT: SSRs in n pulls have variance ≈ n Var(L) / E[L]^3 (L: the gap)."""
    gaps = ssr_gap_distribution(TABLE)
    mean = expected_pulls_per_ssr(TABLE)
    var = sum(p * (k - mean) ** 2 for k, p in gaps.items())
    n = len(history)
    observed = sum(result.tier is Tier.SSR for _, result in history) / n
    sigma = math.sqrt(var / mean**3 / n)
    assert within_4_sigma(observed, float(consolidated_rates(TABLE)[Tier.SSR]), sigma)
    assert max(counter for counter, _ in history) == HARD_PITY - 1  # pity did come into play


# duplicates


def test_duplicates_convert_to_shards_by_tier() -> None:
    pulled = [
        Pull(Tier.SSR, "dragon_crown", 0),
        Pull(Tier.N, "clover", 1),
        Pull(Tier.N, "clover", 2),  # a duplicate within the play
        Pull(Tier.SR, "lucky_cat", 3),  # already owned
        Pull(Tier.SSR, "dragon_crown", 0),  # a duplicate within the play
    ]
    granted = grants(pulled, {"lucky_cat", "tin_badge"}, TABLE)
    assert granted.items == ("dragon_crown", "clover")
    assert granted.shards == 1 + 10 + 40
    assert grants([], {"x"}, TABLE).shards == 0
    each = shards_per_pull(pulled, {"lucky_cat", "tin_badge"}, TABLE)
    assert each == [0, 0, 1, 10, 40]
    assert sum(each) == granted.shards
