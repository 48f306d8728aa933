"""ECO² rules that need no database: waste categories and their guides, the offline lexicon
classifier, reward eligibility, and the event-sourced `CharacterOwnership` aggregate."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from ensemble.apps.eco import events
from ensemble.kernel.events import Envelope

MIN_REWARD_CONFIDENCE = 0.5
FALLBACK_CATEGORY = "general"

# Fixed vocabularies (the API documents them as enums)
REFUSAL_REASONS = ("already_owned", "max_characters_reached", "no_character_for_category")
"""Why a scan's reward was refused (`CharacterAcquireFailed.reason`)."""
SCAN_FAILURES = ("image_not_found", "timeout")
"""Why a scan failed (`ScanFailed.reason`)."""
NOTIFICATION_KINDS = ("character_acquired", "reward_failed", "scan_failed")
RARITIES = ("common", "rare", "epic")


TIERS = {"materials": 3.0, "words": 2.0, "containers": 1.0}
"""What a word says about a category: a material (glass, 유리) outweighs an item (jar, 박스),
which outweighs a container any material may make (bottle, 병)."""


@dataclass(frozen=True)
class Term:
    """One word of a category's lexicon and what a match of it scores."""

    category: str
    word: str
    weight: float
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Category:
    """A waste category. `recyclable` ones go in the household recycling bins and earn a
    character; the ones collected apart (batteries, lamps, medicines, large waste, clothes)
    and food and general waste do not."""

    code: str
    label_ko: str
    label_en: str
    recyclable: bool
    terms: tuple[Term, ...]
    guide: dict[str, Any]


def term_pattern(word: str) -> re.Pattern[str]:
    """Latin words match whole words (with a plural `s`/`es`); Korean words match inside a
    phrase (particles attach to them), or only at a word's start when written `^word`
    (one-syllable words such as `^약`, which hide inside others)."""
    if word.isascii() and not word.startswith("^"):
        return re.compile(rf"(?<= ){re.escape(word)}(?:s|es)?(?= )")
    if word.startswith("^"):
        return re.compile(rf"(?<= ){re.escape(word[1:])}")
    return re.compile(re.escape(word))


def _terms(code: str, entry: dict[str, Any]) -> tuple[Term, ...]:
    found = []
    for tier, factor in TIERS.items():
        for raw in entry.get(tier, []):
            word = normalise_text(raw).strip()
            length = len(word.lstrip("^"))
            found.append(Term(code, word, factor * (1 + length / 4), term_pattern(word)))
    return tuple(found)


@cache
def categories() -> dict[str, Category]:
    """The waste categories with their words (Korean and English) and disposal guides."""
    raw = json.loads(
        resources.files("ensemble.apps.eco").joinpath("data/categories.json").read_text("utf-8")
    )
    return {
        code: Category(
            code=code,
            label_ko=entry["label_ko"],
            label_en=entry["label_en"],
            recyclable=entry["recyclable"],
            terms=_terms(code, entry),
            guide=entry["guide"],
        )
        for code, entry in raw.items()
    }


@cache
def lexicon() -> tuple[Term, ...]:
    """Every category's terms, longest first: a longer match takes its words from shorter
    ones ("plastic bag" is film, not plastic; 아이스박스 is not a 박스)."""
    terms = (term for category in categories().values() for term in category.terms)
    return tuple(sorted(terms, key=lambda term: (-len(term.word.lstrip("^")), term.word)))


def disposal_guide(code: str) -> dict[str, Any]:
    category = categories()[code]
    return {
        "category": code,
        "label_ko": category.label_ko,
        "label_en": category.label_en,
        **category.guide,
    }


@dataclass(frozen=True)
class Classification:
    category: str
    confidence: float

    @property
    def reward_eligible(self) -> bool:
        """Recyclables recognised with enough confidence earn a character."""
        return categories()[self.category].recyclable and self.confidence >= MIN_REWARD_CONFIDENCE


_SEPARATORS = re.compile(r"[\s/_.\-+,;:()\[\]{}|!?\"']+")


def normalise_text(*parts: str | None) -> str:
    """The words of the parts (a file name's `_`, `-` and `.` count as spaces), lowercased."""
    return " " + _SEPARATORS.sub(" ", " ".join(p for p in parts if p).lower()).strip() + " "


def _scores(text: str) -> dict[str, float]:
    """Each category's score in `text`: every term matched where no longer term did."""
    taken = bytearray(len(text))
    scores: dict[str, float] = {}
    for term in lexicon():
        for match in term.pattern.finditer(text):
            start, end = match.span()
            if any(taken[start:end]):
                continue
            taken[start:end] = b"\x01" * (end - start)
            scores[term.category] = scores.get(term.category, 0.0) + term.weight
    return scores


def classify_text(*parts: str | None) -> Classification:
    """The category whose words weigh most (materials over items over containers, longer
    words more), deterministically.

    Confidence grows with the winner's share of all matches and with how much matched; with
    no match at all the answer is general waste with low confidence (never rewarded).
    """
    scores = _scores(normalise_text(*parts))
    if not scores:
        return Classification(FALLBACK_CATEGORY, 0.2)
    best = max(sorted(scores), key=lambda code: scores[code])
    share = scores[best] / sum(scores.values())
    strength = min(1.0, scores[best] / 4)
    return Classification(best, round(0.3 + 0.69 * share * (0.5 + strength / 2), 3))


# Weekly ranking


def week_key(moment: datetime) -> str:
    """The ISO week of an instant (UTC), e.g. `2026-W49`: the ranking's period key."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


# Character ownership (event-sourced)


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    code: str
    name: str
    category: str
    rarity: str


@dataclass(frozen=True)
class Grant:
    character: CatalogueEntry


@dataclass(frozen=True)
class Refusal:
    reason: str  # one of REFUSAL_REASONS
    characters: tuple[str, ...] = ()
    """For `already_owned`: the names of the category's characters (all owned)."""


class CharacterOwnership:
    """The characters one user owns, rebuilt from the `eco.character` stream.

    It also remembers which scans it has decided, so a scan is rewarded (or refused) once
    whatever path its event took to get here.
    """

    def __init__(self) -> None:
        self.owned: dict[str, dict[str, Any]] = {}
        self.decided_scans: set[str] = set()

    def apply(self, event: Envelope) -> None:
        if event.type == events.CharacterAcquired.TYPE:
            acquired = event.payload_as(events.CharacterAcquired)
            self.owned[acquired.character_code] = {
                "character_id": str(acquired.character_id),
                "code": acquired.character_code,
                "name": acquired.character_name,
                "category": acquired.category,
                "scan_id": str(acquired.scan_id) if acquired.scan_id else None,
                "acquired_at": event.occurred_at.isoformat(),
            }
            if acquired.scan_id:
                self.decided_scans.add(str(acquired.scan_id))
        elif event.type == events.CharacterAcquireFailed.TYPE:
            failed = event.payload_as(events.CharacterAcquireFailed)
            self.decided_scans.add(str(failed.scan_id))

    def snapshot(self) -> dict[str, Any]:
        return {"owned": self.owned, "decided_scans": sorted(self.decided_scans)}

    def restore(self, state: dict[str, Any]) -> None:
        self.owned = dict(state["owned"])
        self.decided_scans = set(state["decided_scans"])

    def has_decided(self, scan_id: str) -> bool:
        return scan_id in self.decided_scans

    def decide(
        self, category: str, catalogue: list[CatalogueEntry], max_characters: int
    ) -> Grant | Refusal:
        """The reward for a scan of `category`: the first character of that category (in
        catalogue order) not owned yet, unless the user is at the limit or owns them all."""
        candidates = [entry for entry in catalogue if entry.category == category]
        if not candidates:
            return Refusal("no_character_for_category")
        unowned = [entry for entry in candidates if entry.code not in self.owned]
        if not unowned:
            return Refusal("already_owned", tuple(entry.name for entry in candidates))
        if len(self.owned) >= max_characters:
            return Refusal("max_characters_reached")
        return Grant(unowned[0])
