"""Every B0 auth rule in one place: the provider's token, and the user it maps to.

B0 never sees passwords: callers present the identity provider's JWT, verified by the
kernel (`ExternalTokenVerifier`), and `(provider, sub)` maps to a user in `user_identities`.
The caller is the kernel's `Principal` of that user (`account_id`: the B0 user's id; its
claims the token's, with `provider` and `subject`); a route that needs the user's row asks
for `UserRow`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from ensemble.apps.b0 import repository
from ensemble.apps.b0.models import User, UserIdentity
from ensemble.apps.b0.settings import B0, B0Dep
from ensemble.kernel.db import SessionDep
from ensemble.kernel.errors import Forbidden, NotFound
from ensemble.kernel.identity.cache import watch_tables
from ensemble.kernel.identity.external import ExternalIdentity
from ensemble.kernel.identity.principal import (
    Principal,
    bearer,
    bearer_token,
    remembered_caller,
)

REALM = "b0"
NOT_REGISTERED = "Create your user first with POST /users."
ROLE = "user"  # B0 has no roles
_token = bearer_token("The identity provider's access token.")


async def _caller(b0: B0Dep, token: Annotated[str, Depends(_token.token)]) -> ExternalIdentity:
    return await b0.verifier.verify_async(token)


Caller = Annotated[ExternalIdentity, Depends(_caller)]
"""Who the provider says the caller is, registered or not (`POST /users`)."""


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


async def principal_of(connection: HTTPConnection, session: AsyncSession, token: str) -> Principal:
    """The caller of a provider token: verified, and a registered user (else 404
    `user_not_registered`); kept by the process's auth cache while the token lives."""

    async def verified_and_registered() -> Principal:
        identity = await B0.of(connection).verifier.verify_async(token)
        user_id = await repository.user_id_of(session, identity.provider, identity.subject)
        if user_id is None:
            raise NotFound(NOT_REGISTERED, code="user_not_registered")
        claims = {**identity.claims, "provider": identity.provider, "subject": identity.subject}
        return Principal(account_id=user_id, realm=REALM, role=ROLE, claims=claims)

    return await remembered_caller(connection, REALM, token, verified_and_registered)


async def guest_of(connection: HTTPConnection, session: AsyncSession, token: str) -> Principal:
    """The caller of a room socket: an unregistered one is a guest of no room (4403)."""
    try:
        return await principal_of(connection, session, token)
    except NotFound as exc:
        raise Forbidden("You are not a guest of this room.", code="not_a_member") from exc


watch_tables(REALM, [User, UserIdentity])
CurrentUser = Annotated[Principal, Depends(bearer(principal_of, _token))]
"""The caller, a registered user (404 `user_not_registered` otherwise)."""


async def _user_row(principal: CurrentUser, session: SessionDep) -> User:
    """The caller's row, for the routes that need more than its id."""
    user = await session.get(User, principal.account_id)
    if user is None:  # removed since its principal was cached
        raise NotFound(NOT_REGISTERED, code="user_not_registered")
    return user


UserRow = Annotated[User, Depends(_user_row)]
