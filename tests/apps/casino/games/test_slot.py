"""The slot: the published paytable's exact RTP and hit rate, the paying rules, reels that
depend on their own float only, and 200k seeded spins within 4σ of the computed figures."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from ensemble.apps.casino.games.slot import PAYTABLE, Paytable, Symbol, spin
from tests.apps.casino.games.conftest import seeded_floats, within_4_sigma

S = Symbol
TOTAL = PAYTABLE.total_weight


def ticket_floats(tickets: tuple[int, ...]) -> list[float]:
    """A float inside each ticket's interval of the reel strip."""
    return [(ticket + 0.5) / TOTAL for ticket in tickets]


def test_the_published_paytable_returns_about_95_percent() -> None:
    assert PAYTABLE.rtp() == Fraction(1951, 2048)
    assert PAYTABLE.hit_rate() == Fraction(2105, 8192)
    assert sum(PAYTABLE.distribution().values()) == 1


def test_rtp_and_hit_rate_agree_with_every_combination_of_stops_spun() -> None:
    """Spin every ticket triple once: each is equally likely, so the mean is exact."""
    multipliers = [
        spin(ticket_floats(tickets), 1).multiplier
        for tickets in itertools.product(range(TOTAL), repeat=3)
    ]
    assert Fraction(sum(multipliers), len(multipliers)) == PAYTABLE.rtp()
    assert Fraction(sum(m > 0 for m in multipliers), len(multipliers)) == PAYTABLE.hit_rate()


@pytest.mark.parametrize(
    ("stops", "multiplier"),
    [
        ((S.SEVEN, S.SEVEN, S.SEVEN), 200),
        ((S.BAR, S.BAR, S.BAR), 80),
        ((S.CHERRY, S.CHERRY, S.CHERRY), 5),
        ((S.CHERRY, S.BAR, S.CHERRY), 2),
        ((S.LEMON, S.CHERRY, S.CHERRY), 2),
        ((S.SEVEN, S.SEVEN, S.BAR), 0),
        ((S.CHERRY, S.BAR, S.BELL), 0),
    ],
)
def test_a_line_pays_its_one_rule(stops: tuple[Symbol, ...], multiplier: int) -> None:
    assert PAYTABLE.multiplier(stops) == multiplier


def test_a_win_is_the_bet_times_the_multiplier() -> None:
    seven = [0.0, 0.0, 0.0]  # ticket 0 of each reel: SEVEN
    outcome = spin(seven, 25)
    assert outcome.stops == (S.SEVEN, S.SEVEN, S.SEVEN)
    assert outcome.win == 25 * 200


def test_each_reel_stops_where_its_own_float_picks() -> None:
    """No near-miss engineering: changing one float changes that reel only, and every reel
    stops on the same strip."""
    rng = seeded_floats(7)
    for _ in range(500):
        floats = rng(3)
        before = spin(floats, 1).stops
        reel = int(rng(1)[0] * 3)
        changed = [*floats]
        changed[reel] = rng(1)[0]
        after = spin(changed, 1).stops
        assert [b for i, b in enumerate(before) if i != reel] == [
            a for i, a in enumerate(after) if i != reel
        ]
        assert spin([changed[reel]] * 3, 1).stops == (after[reel],) * 3


def test_extra_floats_are_ignored() -> None:
    assert spin([0.1, 0.5, 0.9, 0.0], 1) == spin([0.1, 0.5, 0.9], 1)


@pytest.mark.parametrize(("floats", "bet"), [([0.1, 0.2, 0.3], 0), ([0.1, 0.2], 1)])
def test_a_bad_bet_or_too_few_floats_is_refused(floats: list[float], bet: int) -> None:
    with pytest.raises(ValueError, match=r"bet|floats"):
        spin(floats, bet)


@pytest.mark.parametrize(
    ("reel", "three", "pairs"),
    [
        (((S.SEVEN, 1), (S.SEVEN, 2)), {}, {}),
        (((S.SEVEN, 0),), {}, {}),
        (((S.SEVEN, 1),), {S.BAR: 5}, {}),
        (((S.SEVEN, 1),), {S.SEVEN: -1}, {}),
    ],
)
def test_a_malformed_paytable_is_refused(
    reel: tuple[tuple[Symbol, int], ...], three: dict[Symbol, int], pairs: dict[Symbol, int]
) -> None:
    with pytest.raises(ValueError, match=r"reel|pays|multipliers"):
        Paytable(version=9, reel=reel, three_of_a_kind=three, pairs=pairs)


def test_200k_seeded_spins_match_the_computed_rtp_and_hit_rate_within_4_sigma() -> None:
    spins = 200_000
    draw = seeded_floats(2026)
    multipliers = [spin(draw(3), 1).multiplier for _ in range(spins)]

    distribution = PAYTABLE.distribution()
    rtp, hit = PAYTABLE.rtp(), PAYTABLE.hit_rate()
    variance = sum(p * (m - rtp) ** 2 for m, p in distribution.items())
    assert within_4_sigma(sum(multipliers) / spins, float(rtp), math.sqrt(variance / spins))
    hits = sum(m > 0 for m in multipliers) / spins
    assert within_4_sigma(hits, float(hit), math.sqrt(hit * (1 - hit) / spins))
