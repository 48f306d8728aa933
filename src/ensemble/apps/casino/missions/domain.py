"""Missions' pure rules: windows (a UTC day, an ISO week, or once), which actions count
toward a goal (an action type, optionally a numeric context value at least some minimum),
and the reward key of a claim. No I/O."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ensemble.apps.casino.domain import Period, period_end, period_label, period_start

REWARD_REASON = "mission"
"""The reason of a mission's reward (`casino.rewards.reason`)."""
KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
CONTEXT_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class Window(enum.StrEnum):
    """When a mission's progress starts again: each UTC day, each ISO week (from Monday,
    UTC), or never."""

    DAILY = "daily"
    WEEKLY = "weekly"
    ONCE = "once"


_PERIODS = {Window.DAILY: Period.DAY, Window.WEEKLY: Period.WEEK}


def window_label(window: Window, at: datetime) -> str:
    """The name of the window holding `at` (`day:2026-12-07`, `week:2026-W50`, `once`)."""
    return "once" if window is Window.ONCE else period_label(_PERIODS[window], at)


def window_ends(window: Window, at: datetime) -> datetime | None:
    """When the window holding `at` ends (None: a `once` mission never resets)."""
    if window is Window.ONCE:
        return None
    period = _PERIODS[window]
    start = period_start(period, at)
    assert start is not None
    return period_end(period, start)


def reward_key(mission_key: str, label: str) -> str:
    """The idempotency key of a claim's reward: one per member, mission and window."""
    return f"mission:{mission_key}:{label}"


@dataclass(frozen=True)
class Goal:
    """`target` actions of `action_type`; with `context_key`, only those whose context holds
    a number there at least `context_min` (a bet of 100 or more)."""

    action_type: str
    target: int
    context_key: str | None = None
    context_min: int | None = None

    def counts(self, action_type: str, context: Mapping[str, Any]) -> bool:
        if action_type != self.action_type:
            return False
        if self.context_key is None:
            return True
        value = context.get(self.context_key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.context_min is not None and value >= self.context_min


def filter_problem(context_key: str | None, context_min: int | None) -> str | None:
    """Why a context filter is malformed (a key and a minimum go together)."""
    if (context_key is None) != (context_min is None):
        return "context_key and context_min go together"
    return None
