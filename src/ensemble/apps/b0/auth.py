"""Every B0 auth rule in one place: the provider's token, and the user it maps to.

B0 never sees passwords: callers present the identity provider's JWT, verified by the
kernel (`ExternalTokenVerifier`), and `(provider, sub)` maps to a user in `user_identities`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.b0.models import User, UserIdentity
from ensemble.apps.b0.settings import B0Dep
from ensemble.kernel.db import SessionDep
from ensemble.kernel.errors import NotFound, Unauthorized
from ensemble.kernel.identity.external import ExternalIdentity
from ensemble.kernel.observability.context import current_request_context

REALM = "b0"

_bearer = HTTPBearer(auto_error=False, description="The identity provider's access token.")


async def _caller(
    b0: B0Dep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ExternalIdentity:
    if credentials is None:
        raise Unauthorized("A bearer token is required.", code="not_authenticated")
    return await b0.verifier.verify_async(credentials.credentials)


Caller = Annotated[ExternalIdentity, Depends(_caller)]


async def user_of(session: AsyncSession, identity: ExternalIdentity) -> User | None:
    stmt = (
        select(User)
        .join(UserIdentity, UserIdentity.user_id == User.id)
        .where(
            UserIdentity.provider == identity.provider,
            UserIdentity.provider_user_id == identity.subject,
        )
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _current_user(identity: Caller, session: SessionDep) -> User:
    user = await user_of(session, identity)
    if user is None:
        raise NotFound("Create your user first with POST /users.", code="user_not_registered")
    current_request_context().user_id = str(user.id)
    return user


CurrentUser = Annotated[User, Depends(_current_user)]
