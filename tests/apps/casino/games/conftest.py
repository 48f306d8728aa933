"""The games are pure: their tests start no database (the root conftest's autouse table
cleaning is replaced by nothing) and draw seeded floats."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

Floats = Callable[[int], list[float]]


@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """Replaces the root one: no tables to empty."""


def seeded_floats(seed: int) -> Floats:
    """`count` floats at a time with the resolution of `fairness.floats` (k / 2**32)."""
    draw = random.Random(seed).getrandbits
    return lambda count: [draw(32) / 2**32 for _ in range(count)]


def within_4_sigma(observed: float, expected: float, sigma: float) -> bool:
    return abs(observed - expected) <= 4 * sigma
