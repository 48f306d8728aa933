"""B0's routers: users and points here, each domain's in its package (`travel`, `chat`,
`journal`), all under `PREFIX`."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from ensemble.apps.b0 import service
from ensemble.apps.b0.auth import Caller, CurrentUser, UserRow
from ensemble.apps.b0.chat import endpoints as chat
from ensemble.apps.b0.journal import endpoints as journal
from ensemble.apps.b0.models import User
from ensemble.apps.b0.schemas import (
    PREFIX,
    USER,
    USER_INPUT,
    PointTransactionPublic,
    UserPublic,
    UserUpdate,
    errors,
)
from ensemble.apps.b0.travel import endpoints as travel
from ensemble.kernel.db import SessionDep
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=PREFIX)


async def _user(session: SessionDep, user: User) -> UserPublic:
    points = await service.balance(session, user.id)
    return UserPublic.model_validate(Extended(user, current_points=points))


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
    responses={
        200: {"model": UserPublic, "description": "The caller's user already exists"},
        **errors(401),
    },
)
async def register(identity: Caller, session: SessionDep, response: Response) -> UserPublic:
    """Create the caller's user from the token (the sign-up bonus once); `200` if it exists."""
    user, created = await service.register(session, identity)
    if not created:
        response.status_code = status.HTTP_200_OK
    return await _user(session, user)


@router.get("/users/me", tags=["users"], responses=errors(*USER))
async def read_me(user: UserRow, session: SessionDep) -> UserPublic:
    return await _user(session, user)


@router.patch("/users/me", tags=["users"], responses=errors(*USER_INPUT))
async def update_me(body: UserUpdate, user: UserRow, session: SessionDep) -> UserPublic:
    """Set the nickname (2–10 characters) and the profile (one emoji)."""
    return await _user(session, await service.update_user(session, user, body))


@router.get("/points/transactions", tags=["points"], responses=errors(*USER_INPUT))
async def point_history(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[PointTransactionPublic]:
    """The caller's point history, newest first."""
    return (await service.point_history(session, user.account_id, page)).map(
        PointTransactionPublic.model_validate
    )


routers = (router, *(domain.router for domain in (travel, chat, journal)))
