"""Focus Mate's routers: the account routes here, each domain's in its package, all under
`PREFIX`."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus import service
from ensemble.apps.focus.auth import REALM, CurrentUser, claims_of, current_principal
from ensemble.apps.focus.live import endpoints as live
from ensemble.apps.focus.schemas import PREFIX, USER, UserPublic, errors
from ensemble.kernel.db import SessionDep
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.router import Signup, auth_router

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


routers = (auth, router, *(domain.router for domain in (live,)))
