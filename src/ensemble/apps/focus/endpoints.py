"""Focus Mate's routers: the account routes here, each domain's in its package, all under
`PREFIX`."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus import service
from ensemble.apps.focus.achievements import endpoints as achievements
from ensemble.apps.focus.auth import REALM, CurrentUser, claims_of, current_principal
from ensemble.apps.focus.community import endpoints as community
from ensemble.apps.focus.demo import endpoints as demo
from ensemble.apps.focus.live import endpoints as live
from ensemble.apps.focus.messages import endpoints as messages
from ensemble.apps.focus.moderation import endpoints as moderation
from ensemble.apps.focus.notifications import endpoints as notifications
from ensemble.apps.focus.rooms import endpoints as rooms
from ensemble.apps.focus.schemas import (
    INPUT,
    PREFIX,
    USER,
    PasswordChange,
    ProfilePublic,
    SettingsPublic,
    SettingsUpdate,
    UserPublic,
    UserUpdate,
    errors,
)
from ensemble.apps.focus.stats import endpoints as stats
from ensemble.apps.focus.timer import endpoints as timer
from ensemble.kernel.db import SessionDep
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.revocation import RevocationsDep
from ensemble.kernel.identity.router import Signup, auth_router
from ensemble.kernel.identity.service import ThrottlePolicy

router = APIRouter(prefix=PREFIX)


async def _registered(session: AsyncSession, account: Account) -> UserPublic:
    await service.add_user(session, account)
    return UserPublic.model_validate(await service.me(session, account.id))


auth = auth_router(
    REALM,
    claims_of,
    prefix=f"{PREFIX}/auth",
    signup=Signup(UserPublic, _registered, path="/register"),
    logout_by=current_principal,
)


@router.get("/users/me", tags=["users"], responses=errors(*USER))
async def me(user: CurrentUser, session: SessionDep) -> UserPublic:
    """Your account."""
    return UserPublic.model_validate(await service.me(session, user.account_id))


@router.patch("/users/me", tags=["users"], responses=errors(*INPUT))
async def update_me(body: UserUpdate, user: CurrentUser, session: SessionDep) -> UserPublic:
    """Change your display name."""
    return UserPublic.model_validate(await service.update_me(session, user.account_id, body))


@router.patch(
    "/users/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    responses=errors(
        *INPUT,
        (403, "The current password is wrong (`wrong_password`)"),
        (429, "Too many wrong passwords (`password_throttled`)"),
    ),
)
async def change_password(
    body: PasswordChange,
    user: CurrentUser,
    session: SessionDep,
    revocations: RevocationsDep,
    request: Request,
) -> None:
    """Change your password, giving the current one. Every other session of your account
    ends at once (its tokens refused); the one you call from goes on. A wrong current
    password is a 403 (your token is fine: a 401 would send clients to log in again)."""
    throttle = ThrottlePolicy.from_settings(request.state.settings)
    await service.change_password(session, user, body, revocations=revocations, throttle=throttle)


@router.get(
    "/users/{user_id}/profile",
    tags=["users"],
    responses=errors(*INPUT, (404, "No such user (`user_not_found`)")),
)
async def profile(user_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ProfilePublic:
    """Anyone's public profile: name, member since, focus minutes and completed sessions."""
    return ProfilePublic.model_validate(await service.profile(session, user_id))


@router.get("/settings", tags=["settings"], responses=errors(*USER))
async def settings(user: CurrentUser, session: SessionDep) -> SettingsPublic:
    """Your settings: time zone, defaults for new rooms, notifications, sound, presence."""
    return SettingsPublic.model_validate(await service.settings_of(session, user.account_id))


@router.patch("/settings", tags=["settings"], responses=errors(*INPUT))
async def update_settings(
    body: SettingsUpdate, user: CurrentUser, session: SessionDep
) -> SettingsPublic:
    """Change some settings; `notifications` changes only the channels and kinds it names."""
    changed = await service.update_settings(session, user.account_id, body)
    return SettingsPublic.model_validate(changed)


routers = (
    auth,
    router,
    *(
        domain.router
        for domain in (
            rooms,
            timer,
            live,
            stats,
            achievements,
            community,
            moderation,
            messages,
            notifications,
        )
    ),
    demo.router,
)
