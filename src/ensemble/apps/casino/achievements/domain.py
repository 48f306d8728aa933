"""Achievements' pure rules: the catalogue (data, in display order) and what moves each
entry's progress. Only progress and unlocks are stored (`casino.achievement_progress`)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

REWARD_KEY_PREFIX = "achievement:"
"""The ledger idempotency key of an achievement's reward is `achievement:<key>`: one per
member's coins account, so a reward is paid once whatever happens around it."""


class HandMetric(enum.StrEnum):
    """A value read from a member's hands (all games, all time)."""

    HANDS_PLAYED = "hands_played"
    WINS = "wins"
    BEST_WIN = "best_win"


HAND_ACTIONS = frozenset({"SLOT_SPIN", "GACHA_SPIN"})
"""The actions after which hand goals are measured again (each play records one)."""


@dataclass(frozen=True)
class Achievement:
    """An entry of the catalogue: reached when the member has recorded `target` actions of
    `action_type`, or when `hand_metric` reaches `target`; rewarded with `reward_coins`."""

    key: str
    name: str
    description: str
    target: int
    reward_coins: int
    action_type: str | None = None
    hand_metric: HandMetric | None = None

    def __post_init__(self) -> None:
        if (self.action_type is None) == (self.hand_metric is None):
            raise ValueError(f"{self.key}: a goal is on actions or on hands, exactly one")
        if self.target < 1 or self.reward_coins < 0:
            raise ValueError(f"{self.key}: the target is at least 1, the reward not negative")

    @property
    def reward_key(self) -> str:
        return f"{REWARD_KEY_PREFIX}{self.key}"

    def moved_by(self, action_type: str) -> bool:
        """Whether an action of this type may move the entry's progress."""
        if self.action_type is not None:
            return self.action_type == action_type
        return action_type in HAND_ACTIONS


def _on_actions(
    key: str, name: str, description: str, action_type: str, target: int, reward: int
) -> Achievement:
    return Achievement(key, name, description, target, reward, action_type=action_type)


def _on_hands(
    key: str, name: str, description: str, metric: HandMetric, target: int, reward: int
) -> Achievement:
    return Achievement(key, name, description, target, reward, hand_metric=metric)


CATALOGUE: tuple[Achievement, ...] = (
    _on_actions("first-login", "Welcome In", "Log in for the first time.", "LOGIN", 1, 50),
    _on_actions("regular", "Regular", "Log in 7 times.", "LOGIN", 7, 200),
    _on_actions("first-spin", "First Spin", "Spin the slot once.", "SLOT_SPIN", 1, 50),
    _on_actions("spinner", "Spinner", "Spin the slot 100 times.", "SLOT_SPIN", 100, 500),
    _on_actions("first-pull", "First Pull", "Pull the gacha once.", "GACHA_SPIN", 1, 50),
    _on_actions("collector", "Collector", "Pull the gacha 50 times.", "GACHA_SPIN", 50, 500),
    _on_actions("first-purchase", "Supporter", "Buy in the shop.", "SHOP_PURCHASE", 1, 100),
    _on_hands("first-win", "First Win", "Win a hand.", HandMetric.WINS, 1, 50),
    _on_hands("winner", "Winner", "Win 10 hands.", HandMetric.WINS, 10, 200),
    _on_hands("big-win", "Big Win", "Win 1,000 coins at once.", HandMetric.BEST_WIN, 1000, 300),
    _on_hands("high-roller", "High Roller", "Play 1000 hands.", HandMetric.HANDS_PLAYED, 1000, 900),
)  # fmt: skip
"""The shipped catalogue, in display order."""


@cache
def by_key() -> Mapping[str, Achievement]:
    keys = [each.key for each in CATALOGUE]
    if len(set(keys)) != len(keys):
        raise ValueError(f"achievement keys repeat: {keys}")
    return {each.key: each for each in CATALOGUE}


def moved_by(action_type: str) -> list[Achievement]:
    """The entries an action of `action_type` may move (most actions move none)."""
    return [each for each in CATALOGUE if each.moved_by(action_type)]
