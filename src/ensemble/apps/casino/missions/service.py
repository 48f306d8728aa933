"""Missions use cases: progress from members' actions (the `casino.missions` consumer),
the active missions with a member's progress, claiming a window's reward once, and the
admin's definitions. Never commit.

Once, whatever the delivery: the kernel's consumer handles an event once; the progress
upsert locks the member's row of the window; a claim is one `UPDATE … WHERE claimed_at IS
NULL AND progress >= target`, which only one transaction can match, and its reward goes
through `rewards.grant` under `mission:<key>:<window>`, which would answer a second grant
as a replay."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.actions.models import ActionType
from ensemble.apps.casino.actions.service import UnknownActionType
from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.domain import RewardKind, reward_shape_error
from ensemble.apps.casino.inventory.service import ItemNotFound
from ensemble.apps.casino.missions.domain import (
    REWARD_REASON,
    Goal,
    Window,
    filter_problem,
    reward_key,
    window_ends,
    window_label,
)
from ensemble.apps.casino.missions.models import Mission, MissionProgress
from ensemble.apps.casino.models import Item
from ensemble.apps.casino.rewards import service as rewards
from ensemble.apps.casino.rewards.models import Reward
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.pagination import Page, PageRequest, as_fetched, paginate

MISSION_REWARDS = (RewardKind.COINS, RewardKind.ITEM)
"""What a mission may reward (gems are bought, never handed out by a schedule)."""


class MissionNotFound(NotFound):
    code = "mission_not_found"
    message = "No such mission (or it is not active)."


class MissionExists(Conflict):
    code = "mission_exists"
    message = "A mission with this key exists already."


class MissionNotCompleted(Conflict):
    code = "mission_not_completed"
    message = "The mission's goal is not reached in this window yet."


class MissionAlreadyClaimed(Conflict):
    code = "mission_already_claimed"
    message = "This window's reward was claimed already."


class InvalidMission(InvalidInput):
    code = "invalid_mission"
    message = "The mission's fields do not fit together."


def goal_of(mission: Mission) -> Goal:
    return Goal(mission.action_type, mission.target, mission.context_key, mission.context_min)


# progress


async def advance(
    session: AsyncSession,
    user_id: uuid.UUID,
    action_type: str,
    context: Mapping[str, Any],
    occurred_at: datetime,
) -> list[str]:
    """Count an action toward the member's active missions it fits, in the window of when it
    happened (capped at the target); the keys it moved. Rows are upserted in key order, so
    two events of one member never deadlock."""
    missions = await session.scalars(
        select(Mission)
        .where(Mission.action_type == action_type, Mission.is_active.is_(True))
        .order_by(Mission.key)
    )
    moved = []
    for mission in missions.all():
        if not goal_of(mission).counts(action_type, context):
            continue
        label = window_label(Window(mission.window_kind), occurred_at)
        table = MissionProgress
        statement = insert(table).values(
            user_id=user_id, mission_key=mission.key, window_label=label, progress=1,
            updated_at=occurred_at,
        )  # fmt: skip
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[table.user_id, table.mission_key, table.window_label],
                set_={
                    "progress": func.least(table.progress + 1, mission.target),
                    "updated_at": occurred_at,
                },
            )
        )
        moved.append(mission.key)
    return moved


@dataclass(frozen=True)
class Standing:
    """A mission for a member in the window holding some instant."""

    mission: Mission
    window: str
    resets_at: datetime | None
    progress: int
    claimed_at: datetime | None

    @property
    def completed(self) -> bool:
        return self.progress >= self.mission.target


async def missions_of(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, page: PageRequest
) -> Page[Standing]:
    """The active missions, in display order, with the member's progress in their windows
    at `now`."""
    found = await paginate(
        session,
        select(Mission).where(Mission.is_active.is_(True)),
        page,
        keys=(Mission.sort_order, Mission.key),
        item=as_fetched,
    )
    labels = {m.key: window_label(Window(m.window_kind), now) for m in found.items}
    rows = {
        row.mission_key: row
        for row in await session.scalars(
            select(MissionProgress).where(
                MissionProgress.user_id == user_id,
                MissionProgress.mission_key.in_(labels),
                MissionProgress.window_label.in_(set(labels.values())),
            )
        )
        if labels[row.mission_key] == row.window_label
    }

    def standing(mission: Mission) -> Standing:
        row = rows.get(mission.key)
        return Standing(
            mission,
            labels[mission.key],
            window_ends(Window(mission.window_kind), now),
            0 if row is None else row.progress,
            None if row is None else row.claimed_at,
        )

    return found.map(standing)


# claims


@dataclass(frozen=True)
class Claimed:
    standing: Standing
    reward: Reward


async def _active(session: AsyncSession, key: str) -> Mission:
    mission = await session.get(Mission, key)
    if mission is None or not mission.is_active:
        raise MissionNotFound(details={"key": key})
    return mission


async def claim(session: AsyncSession, user_id: uuid.UUID, key: str, now: datetime) -> Claimed:
    """Claim the reward of the mission's window at `now`, once: 404 `mission_not_found`, 409
    `mission_not_completed`, `mission_already_claimed` (also for all but one of concurrent
    claims). The reward goes through `rewards.grant` (`mission:<key>:<window>`)."""
    mission = await _active(session, key)
    label = window_label(Window(mission.window_kind), now)
    row: MissionProgress | None = await session.scalar(
        update(MissionProgress)
        .where(
            MissionProgress.user_id == user_id,
            MissionProgress.mission_key == key,
            MissionProgress.window_label == label,
            MissionProgress.progress >= mission.target,
            MissionProgress.claimed_at.is_(None),
        )
        .values(claimed_at=now, updated_at=now)
        .returning(MissionProgress),
        execution_options={"populate_existing": True},
    )
    if row is None:
        found = await session.get(MissionProgress, (user_id, key, label))
        details = {"key": key, "window": label, "target": mission.target}
        if found is not None and found.claimed_at is not None:
            raise MissionAlreadyClaimed(details=details)
        raise MissionNotCompleted(details={**details, "progress": found.progress if found else 0})
    granted = await rewards.grant(
        session,
        user_id=user_id,
        kind=RewardKind(mission.reward_kind),
        amount=mission.reward_amount,
        item_id=mission.reward_item_id,
        quantity=mission.reward_quantity,
        reason=REWARD_REASON,
        idempotency_key=reward_key(key, label),
    )
    row.reward_id = granted.reward.id
    await session.flush()
    resets_at = window_ends(Window(mission.window_kind), now)
    return Claimed(Standing(mission, label, resets_at, row.progress, now), granted.reward)


# admin


async def _check(session: AsyncSession, mission: Mission) -> None:
    """422 `invalid_mission` / `invalid_reward` / `unknown_action_type`, 404 `item_not_found`
    for a definition that cannot work."""
    if problem := filter_problem(mission.context_key, mission.context_min):
        raise InvalidMission(details={"problem": problem})
    if RewardKind(mission.reward_kind) not in MISSION_REWARDS:
        raise InvalidMission(details={"problem": "a mission rewards coins or an item"})
    if problem := reward_shape_error(mission.reward):
        raise rewards.InvalidReward(details={"problem": problem})
    if await session.get(ActionType, mission.action_type) is None:
        raise UnknownActionType(details={"action_type": mission.action_type})
    if (
        mission.reward_item_id is not None
        and await session.get(Item, mission.reward_item_id) is None
    ):
        raise ItemNotFound(details={"item_ids": [mission.reward_item_id]})


async def create(
    session: AsyncSession, admin_id: uuid.UUID, key: str, fields: Mapping[str, Any], now: datetime
) -> Mission:
    """A new mission from all its fields (409 `mission_exists`), audited."""
    values = {"key": key, "created_at": now, "updated_at": now, **fields}
    await _check(session, Mission(**values))
    added: Mission | None = await session.scalar(
        insert(Mission)
        .values(values)
        .on_conflict_do_nothing(index_elements=[Mission.key])
        .returning(Mission),
        execution_options={"populate_existing": True},
    )
    if added is None:
        raise MissionExists(details={"key": key})
    await audit.record(session, admin_id, "mission.create", "mission", key, dict(fields))
    return added


async def change(
    session: AsyncSession,
    admin_id: uuid.UUID,
    key: str,
    fields: Mapping[str, Any],
    now: datetime,
    *,
    action: str = "mission.update",
) -> Mission:
    """Change a mission's fields (404 `mission_not_found`), audited as `action`. Progress
    already made stays; a new target applies to claims from now on; a deactivated mission is
    neither listed, moved nor claimable."""
    mission = await session.scalar(select(Mission).where(Mission.key == key).with_for_update())
    if mission is None:
        raise MissionNotFound(details={"key": key})
    with session.no_autoflush:  # checked before the row may reach the database
        for name, value in fields.items():
            setattr(mission, name, value)
        await _check(session, mission)
    mission.updated_at = now
    await session.flush()
    await audit.record(session, admin_id, action, "mission", key, dict(fields))
    return mission


async def definition(session: AsyncSession, key: str) -> Mission:
    mission = await session.get(Mission, key)
    if mission is None:
        raise MissionNotFound(details={"key": key})
    return mission


async def definitions(session: AsyncSession, page: PageRequest) -> Page[Mission]:
    """Every mission, active or not, by key."""
    return await paginate(session, select(Mission), page, keys=(Mission.key,), item=as_fetched)
