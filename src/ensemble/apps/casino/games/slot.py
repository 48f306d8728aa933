"""The slot: three reels, one published paytable, outcomes from floats only.

**No engineered near-misses.** The three reels are one and the same weighted strip, each
stop is drawn from its own float by `fairness.pick`, and the stops shown are the stops
drawn. There is no second "display" draw, no per-reel weighting that would make a jackpot
symbol common on the first reels and rare on the last, and nothing depends on the member,
their history or the house's results. `rtp()` and `hit_rate()` are exact (`Fraction`): they
enumerate every combination of stops with its probability.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from ensemble.apps.casino.games.fairness import MAX_WEIGHT_TOTAL, pick


class Symbol(enum.StrEnum):
    SEVEN = "SEVEN"
    BAR = "BAR"
    BELL = "BELL"
    PLUM = "PLUM"
    LEMON = "LEMON"
    CHERRY = "CHERRY"


@dataclass(frozen=True)
class Paytable:
    """A published paytable.

    - `reel`: the weighted strip every reel stops on, in published order (`pick` order).
    - `three_of_a_kind`: the multiplier of the bet when all reels show that symbol.
    - `pairs`: `symbol → multiplier` when exactly two reels show that symbol (anywhere).
    A spin pays the one rule it matches (the two kinds are exclusive), or nothing.
    """

    version: int
    reel: tuple[tuple[Symbol, int], ...]
    three_of_a_kind: Mapping[Symbol, int]
    pairs: Mapping[Symbol, int]
    reels: int = 3

    def __post_init__(self) -> None:
        symbols = [symbol for symbol, _ in self.reel]
        total = sum(weight for _, weight in self.reel)
        if len(set(symbols)) != len(symbols) or not 0 < total < MAX_WEIGHT_TOTAL:
            raise ValueError("a reel lists each symbol once, with a positive total weight")
        if not set(self.three_of_a_kind) | set(self.pairs) <= set(symbols):
            raise ValueError("a paytable pays only symbols of its reel")
        if any(m < 0 for m in (*self.three_of_a_kind.values(), *self.pairs.values())):
            raise ValueError("multipliers are never negative")

    @property
    def total_weight(self) -> int:
        return sum(weight for _, weight in self.reel)

    def multiplier(self, stops: Sequence[Symbol]) -> int:
        """What a line of stops pays, as a multiple of the bet."""
        first = stops[0]
        if all(stop == first for stop in stops):
            return self.three_of_a_kind.get(first, 0)
        return next((m for symbol, m in self.pairs.items() if stops.count(symbol) == 2), 0)

    def distribution(self) -> dict[int, Fraction]:
        """The exact probability of every multiplier, over all reel combinations."""
        weights = dict(self.reel)
        total = Fraction(1, self.total_weight**self.reels)
        out: dict[int, Fraction] = {}
        for stops in itertools.product(weights, repeat=self.reels):
            probability = total
            for stop in stops:
                probability *= weights[stop]
            m = self.multiplier(stops)
            out[m] = out.get(m, Fraction(0)) + probability
        return out

    def rtp(self) -> Fraction:
        """Return to player: the expected multiplier of a spin."""
        return sum((m * p for m, p in self.distribution().items()), Fraction(0))

    def hit_rate(self) -> Fraction:
        """The probability that a spin pays anything."""
        return sum((p for m, p in self.distribution().items() if m > 0), Fraction(0))


PAYTABLE = Paytable(
    version=1,
    reel=(
        (Symbol.SEVEN, 1),
        (Symbol.BAR, 3),
        (Symbol.BELL, 4),
        (Symbol.PLUM, 6),
        (Symbol.LEMON, 8),
        (Symbol.CHERRY, 10),
    ),
    three_of_a_kind={
        Symbol.SEVEN: 200,
        Symbol.BAR: 80,
        Symbol.BELL: 35,
        Symbol.PLUM: 20,
        Symbol.LEMON: 8,
        Symbol.CHERRY: 5,
    },
    pairs={Symbol.CHERRY: 2},
)
"""The published paytable: RTP 1951/2048 ≈ 95.26 %, hit rate 2105/8192 ≈ 25.70 %."""


@dataclass(frozen=True)
class Outcome:
    stops: tuple[Symbol, ...]
    bet: int
    multiplier: int

    @property
    def win(self) -> int:
        """The credit of the spin (0 on a loss); the bet is debited apart."""
        return self.bet * self.multiplier


def spin(floats: Sequence[float], bet: int, paytable: Paytable = PAYTABLE) -> Outcome:
    """A spin: reel `i` stops where `floats[i]` picks. Uses the first `paytable.reels`
    floats (draw them with `fairness.floats(..., table_version=paytable.version, count=3)`)."""
    if bet <= 0:
        raise ValueError("a bet is a positive number of coins")
    if len(floats) < paytable.reels:
        raise ValueError(f"a spin takes {paytable.reels} floats")
    stops = tuple(pick(u, paytable.reel) for u in floats[: paytable.reels])
    return Outcome(stops=stops, bet=bet, multiplier=paytable.multiplier(stops))
