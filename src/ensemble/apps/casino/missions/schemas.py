"""Missions' request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, model_validator

from ensemble.apps.casino.actions.schemas import ACTION_TYPE
from ensemble.apps.casino.domain import RewardKind
from ensemble.apps.casino.missions.domain import CONTEXT_KEY_PATTERN, KEY_PATTERN, Window
from ensemble.apps.casino.rewards.schemas import RewardPublic
from ensemble.kernel.schemas import ClosedRequestModel, FromText, ResponseModel

MISSION_KEY = Field(pattern=KEY_PATTERN, examples=["daily-spins"])
ActionTypeCode = Annotated[str, ACTION_TYPE]
Title = Annotated[str, Field(min_length=1, max_length=100)]
Description = Annotated[str, Field(max_length=500)]
Target = Annotated[int, Field(ge=1, le=1_000_000)]
ContextKey = Annotated[str, Field(pattern=CONTEXT_KEY_PATTERN, examples=["bet"])]
ContextMin = Annotated[int, Field(ge=0, le=10**12)]
Amount = Annotated[int, Field(gt=0, le=1_000_000)]
ItemId = Annotated[str, Field(min_length=1, max_length=64)]
SortOrder = Annotated[int, Field(ge=-(10**6), le=10**6)]


class MissionReward(ResponseModel):
    kind: RewardKind
    amount: int | None = Field(description="Coins (null for an item)")
    item_id: str | None
    quantity: int | None


class MissionDefinition(ResponseModel):
    """A mission as defined: its goal, window and reward."""

    key: str
    title: str
    description: str
    action_type: str = Field(description="The actions that count")
    context_key: str | None = Field(
        description="If set, only actions whose context holds a number there of at least"
        " `context_min` count"
    )
    context_min: int | None
    window: Window = Field(validation_alias="window_kind")
    target: int = Field(description="How many counted actions complete it in one window")
    reward: MissionReward


class MissionAdmin(MissionDefinition):
    is_active: bool
    sort_order: int
    created_at: datetime
    updated_at: datetime


class MissionPublic(MissionDefinition):
    """An active mission with your progress in its current window."""

    window_id: str = Field(description="The current window (`day:…`, `week:…`, `once`)")
    resets_at: datetime | None = Field(description="When the window ends (null for `once`)")
    progress: int = Field(description="Counted actions in this window (capped at the target)")
    completed: bool
    claimed_at: datetime | None = Field(description="When you claimed this window's reward")


class MissionClaimed(ResponseModel):
    mission: MissionPublic
    reward: RewardPublic


class MissionCreate(ClosedRequestModel):
    """A mission: reward `coins` with `reward_amount`, or `item` with `reward_item_id` and
    `reward_quantity`."""

    key: str = MISSION_KEY
    title: Title
    description: Description = ""
    action_type: ActionTypeCode
    target: Target
    context_key: ContextKey | None = None
    context_min: ContextMin | None = None
    window: FromText[Window]
    reward_kind: FromText[RewardKind]
    reward_amount: Amount | None = None
    reward_item_id: ItemId | None = None
    reward_quantity: Amount | None = None
    is_active: bool = True
    sort_order: SortOrder = 0

    def fields(self) -> dict[str, Any]:
        """The columns it sets (all but the key)."""
        return _columns(self.model_dump(exclude={"key"}))


_REQUIRED = frozenset(
    {"title", "description", "action_type", "target", "window", "reward_kind", "is_active",
     "sort_order"}
)  # fmt: skip


class MissionUpdate(ClosedRequestModel):
    """The fields to change (null clears a context filter or a reward field)."""

    title: Title | None = None
    description: Description | None = None
    action_type: ActionTypeCode | None = None
    target: Target | None = None
    context_key: ContextKey | None = None
    context_min: ContextMin | None = None
    window: FromText[Window] | None = None
    reward_kind: FromText[RewardKind] | None = None
    reward_amount: Amount | None = None
    reward_item_id: ItemId | None = None
    reward_quantity: Amount | None = None
    is_active: bool | None = None
    sort_order: SortOrder | None = None

    @model_validator(mode="after")
    def _something(self) -> MissionUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        if cleared := sorted(
            n for n in self.model_fields_set & _REQUIRED if getattr(self, n) is None
        ):
            raise ValueError(f"cannot be null: {', '.join(cleared)}")
        return self

    def fields(self) -> dict[str, Any]:
        return _columns(self.model_dump(include=self.model_fields_set))


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """Request fields as the table's columns (`window` is `window_kind`, enums as text)."""
    if "window" in fields:
        fields["window_kind"] = fields.pop("window")
    return {name: getattr(value, "value", value) for name, value in fields.items()}
