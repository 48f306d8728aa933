"""`/api/missions` (yours, claims) and `/api/admin/missions` (definitions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from ensemble.apps.casino.auth import Admin, CurrentUser
from ensemble.apps.casino.missions import service as missions
from ensemble.apps.casino.missions.domain import KEY_PATTERN
from ensemble.apps.casino.missions.schemas import (
    MissionAdmin,
    MissionClaimed,
    MissionCreate,
    MissionPublic,
    MissionUpdate,
)
from ensemble.apps.casino.rewards.schemas import RewardPublic
from ensemble.apps.casino.schemas import INPUT, OWNED, PREFIX, errors
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=PREFIX)

MissionKey = Annotated[str, Path(pattern=KEY_PATTERN)]
NO_MISSION = (404, "No such mission, or not active (`mission_not_found`)")
BAD_DEFINITION = (
    422,
    "`validation_error`, `invalid_mission` (a context filter needs key and minimum; coins or"
    " an item), `invalid_reward` (the reward's fields do not fit its kind),"
    " `unknown_action_type`",
)


def _public(standing: missions.Standing) -> MissionPublic:
    return MissionPublic.model_validate(
        Extended(
            standing.mission,
            window_id=standing.window,
            resets_at=standing.resets_at,
            progress=standing.progress,
            completed=standing.completed,
            claimed_at=standing.claimed_at,
        )
    )


@router.get("/missions", tags=["missions"], responses=errors(*INPUT))
async def your_missions(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[MissionPublic]:
    """The active missions with your progress in each one's current window (daily windows
    are UTC days, weekly ones ISO weeks from Monday, UTC)."""
    found = await missions.missions_of(session, user.account_id, utcnow(), page)
    return found.map(_public)


@router.post(
    "/missions/{key}/claim",
    tags=["missions"],
    responses=errors(
        *OWNED,
        (409, "The goal is not reached in this window (`mission_not_completed`), or its"
         " reward was claimed (`mission_already_claimed`)"),
    ),
)  # fmt: skip
async def claim(key: MissionKey, user: CurrentUser, session: SessionDep) -> MissionClaimed:
    """Claim the reward of the mission's current window, once."""
    claimed = await missions.claim(session, user.account_id, key, utcnow())
    return MissionClaimed(
        mission=_public(claimed.standing), reward=RewardPublic.model_validate(claimed.reward)
    )


@router.get("/admin/missions", tags=["admin"], responses=errors(*INPUT, 403))
async def definitions(admin: Admin, session: SessionDep, page: PageDep) -> Page[MissionAdmin]:
    """Every mission, active or not, by key (admins)."""
    return (await missions.definitions(session, page)).map(MissionAdmin.model_validate)


@router.post(
    "/admin/missions",
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    responses=errors(
        401, 403, BAD_DEFINITION, (404, "No such item (`item_not_found`)"),
        (409, "The key is taken (`mission_exists`)"),
    ),
)  # fmt: skip
async def create(body: MissionCreate, admin: Admin, session: SessionDep) -> MissionAdmin:
    """Define a mission (admins; audited)."""
    created = await missions.create(session, admin.account_id, body.key, body.fields(), utcnow())
    return MissionAdmin.model_validate(created)


@router.get("/admin/missions/{key}", tags=["admin"], responses=errors(*INPUT, 403, NO_MISSION))
async def definition(key: MissionKey, admin: Admin, session: SessionDep) -> MissionAdmin:
    """One mission, active or not (admins)."""
    return MissionAdmin.model_validate(await missions.definition(session, key))


@router.patch(
    "/admin/missions/{key}",
    tags=["admin"],
    responses=errors(401, 403, BAD_DEFINITION, (404, "`mission_not_found`, `item_not_found`")),
)
async def change(
    key: MissionKey, body: MissionUpdate, admin: Admin, session: SessionDep
) -> MissionAdmin:
    """Change a mission (admins; audited). Progress made stays; `is_active: false` hides it."""
    changed = await missions.change(session, admin.account_id, key, body.fields(), utcnow())
    return MissionAdmin.model_validate(changed)


@router.delete(
    "/admin/missions/{key}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["admin"],
    responses=errors(*INPUT, 403, (404, "`mission_not_found`")),
)
async def deactivate(key: MissionKey, admin: Admin, session: SessionDep) -> None:
    """Withdraw a mission (admins; audited): deactivated, not deleted, so members' progress
    and rewards keep their key."""
    fields = {"is_active": False}
    await missions.change(session, admin.account_id, key, fields, utcnow(), action="mission.delete")
