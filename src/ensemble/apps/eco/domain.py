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


@dataclass(frozen=True)
class Category:
    code: str
    label_ko: str
    label_en: str
    recyclable: bool
    words: tuple[str, ...]
    guide: dict[str, Any]


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
            words=tuple(word.lower() for word in entry["words"]),
            guide=entry["guide"],
        )
        for code, entry in raw.items()
    }


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


def _hits(text: str, word: str) -> int:
    """How often `word` occurs: Korean words inside a phrase (particles attach to them),
    Latin words only as whole words."""
    if word.isascii():
        return text.count(f" {word} ")
    return text.count(word)


def classify_text(*parts: str | None) -> Classification:
    """The category whose words occur most (longer words weigh more), deterministically.

    Confidence grows with the winner's share of all matches and with how much matched; with
    no match at all the answer is general waste with low confidence (never rewarded).
    """
    text = normalise_text(*parts)
    scores: dict[str, float] = {}
    for code, category in categories().items():
        score = sum(_hits(text, word) * (1 + len(word) / 4) for word in category.words)
        if score:
            scores[code] = score
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
    reason: str  # max_characters_reached | already_owned | no_character_for_category


class CharacterOwnership:
    """The characters one user owns, rebuilt from the `eco.character` stream.

    It also remembers which scans it has decided, so a scan is rewarded (or refused) once
    whatever path its event took to get here.
    """

    def __init__(self) -> None:
        self.owned: dict[str, dict[str, Any]] = {}
        self.decided_scans: set[str] = set()

    def apply(self, event: Envelope) -> None:
        if event.type == events.CHARACTER_ACQUIRED:
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
        elif event.type == events.CHARACTER_ACQUIRE_FAILED:
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
            return Refusal("already_owned")
        if len(self.owned) >= max_characters:
            return Refusal("max_characters_reached")
        return Grant(unowned[0])
