"""The age-gated unlock's pure rules (B5): stages in order, and who is an adult where. No
session, no I/O."""

from __future__ import annotations

import enum
from datetime import date


class Stage(enum.StrEnum):
    """A content's stages, in the order they unlock."""

    TEASER = "teaser"
    PARTIAL = "partial"
    FULL = "full"


STAGES = tuple(Stage)


def previous(stage: Stage) -> Stage | None:
    """The stage that must be unlocked first (None for the teaser)."""
    position = STAGES.index(stage)
    return STAGES[position - 1] if position else None


ADULT_AGE = {"KR": 19, "JP": 20, "US": 21, "TH": 20}
"""The age of majority for this content where it is not 18 (ISO 3166-1 alpha-2)."""
DEFAULT_ADULT_AGE = 18
JURISDICTION_PATTERN = r"^[A-Z]{2}$"


def adult_age(jurisdiction: str) -> int:
    return ADULT_AGE.get(jurisdiction, DEFAULT_ADULT_AGE)


def age_on(birth_date: date, today: date) -> int:
    """Whole years from `birth_date` to `today` (a 29 February birthday counts on 1 March)."""
    had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (0 if had_birthday else 1)
