"""Achievements' pure rules: the catalogue (shipped as `catalogue.toml`, kept in code: only
unlocks are stored) and when a user's progress reaches an entry."""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

NIGHT_HOURS = (0, 4)
"""Night owl: a completed session started from 00:00 to before 04:00, local time."""
EARLY_HOURS = (5, 7)
"""Early bird: a completed session started from 05:00 to before 07:00, local time."""


class Metric(enum.StrEnum):
    COMPLETED_SESSIONS = "completed_sessions"
    FOCUS_MINUTES = "focus_minutes"
    LONGEST_STREAK = "longest_streak"
    NIGHT_SESSIONS = "night_sessions"
    EARLY_SESSIONS = "early_sessions"
    ROOMS_HOSTED = "rooms_hosted"


Progress = Mapping[Metric, int]
"""A user's value of every metric."""


@dataclass(frozen=True)
class Achievement:
    code: str
    name: str
    description: str
    metric: Metric
    target: int

    def so_far(self, progress: Progress) -> int:
        """How far the user is, capped at the target."""
        return min(progress[self.metric], self.target)

    def reached(self, progress: Progress) -> bool:
        return progress[self.metric] >= self.target


def parse_catalogue(text: str) -> tuple[Achievement, ...]:
    """The entries of a catalogue in TOML (`[[achievement]]` tables), checked: known
    metrics, positive targets, unique codes."""
    entries: list[dict[str, Any]] = tomllib.loads(text)["achievement"]
    catalogue = tuple(
        Achievement(
            code=entry["code"],
            name=entry["name"],
            description=entry["description"],
            metric=Metric(entry["metric"]),
            target=int(entry["target"]),
        )
        for entry in entries
    )
    codes = [each.code for each in catalogue]
    if len(set(codes)) != len(codes):
        raise ValueError(f"achievement codes repeat: {codes}")
    if any(each.target < 1 for each in catalogue):
        raise ValueError("every achievement's target is at least 1")
    return catalogue


@cache
def catalogue() -> tuple[Achievement, ...]:
    """The shipped catalogue, in display order."""
    text = (
        resources.files("ensemble.apps.focus.achievements")
        .joinpath("catalogue.toml")
        .read_text("utf-8")
    )
    return parse_catalogue(text)


def by_code() -> dict[str, Achievement]:
    return {each.code: each for each in catalogue()}
