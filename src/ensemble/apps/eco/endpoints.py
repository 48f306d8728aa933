"""ECO²'s routers: the account routes and the operators' here, each domain's in its package
(`images`, `scan`, `characters`, `my`, `locations`, `chat`), all under `PREFIX`."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco import service
from ensemble.apps.eco.auth import REALM, CurrentUser, admin_resolver, claims_of, current_principal
from ensemble.apps.eco.characters import endpoints as characters
from ensemble.apps.eco.chat import endpoints as chat
from ensemble.apps.eco.images import endpoints as images
from ensemble.apps.eco.locations import endpoints as locations
from ensemble.apps.eco.my import endpoints as my
from ensemble.apps.eco.scan import endpoints as scan
from ensemble.apps.eco.schemas import PREFIX, USER, UserPublic, errors
from ensemble.kernel.db import SessionDep
from ensemble.kernel.events.dlq import dlq_router
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.router import Signup, auth_router
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=PREFIX)


# Auth


async def _signed_up(session: AsyncSession, account: Account) -> UserPublic:
    user = await service.add_user(session, account)
    return UserPublic.model_validate(Extended(account, role=user.role))


auth = auth_router(
    REALM,
    claims_of,
    prefix=f"{PREFIX}/auth",
    signup=Signup(UserPublic, _signed_up),
    on_login=service.audit,
    logout_by=current_principal,
)


@router.get("/auth/me", tags=["auth"], responses=errors(*USER))
async def me(user: CurrentUser, session: SessionDep) -> UserPublic:
    account = await service.account_of(session, user.account_id)
    return UserPublic.model_validate(Extended(account, role=user.role))


# Admin

admin = dlq_router(admin_resolver, prefix=f"{PREFIX}/admin/dlq", responses=errors(401, 403, 422))

routers = (
    auth,
    router,
    *(domain.router for domain in (images, scan, characters, my, locations, chat)),
    admin,
)
