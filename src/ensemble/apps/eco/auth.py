"""Every ECO² auth rule in one place: own accounts (realm `eco`), the token's session checked
against the revoked sessions on each request, and the role read live from the database (a
demoted admin loses access at once)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Uuid, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco.models import Role, User
from ensemble.kernel.db import SessionDep
from ensemble.kernel.errors import Forbidden, Unauthorized
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.principal import CodecDep, Principal, live_principal
from ensemble.kernel.identity.revocation import Revocations, RevocationsDep
from ensemble.kernel.identity.tokens import TokenCodec

REALM = "eco"

_bearer = HTTPBearer(auto_error=False, description="An access token from `/auth/login`.")


async def claims_of(session: AsyncSession, account: Account) -> dict[str, Any]:
    """The ECO² claims of a token (the role, informational: requests read it live)."""
    user = await session.get(User, account.id)
    return {"role": (user.role if user else Role.USER).value}


_PRINCIPAL = (
    select(User.role, Account.is_active)
    .join(Account, Account.id == User.account_id)
    .where(User.account_id == bindparam("account_id", type_=Uuid))
)
"""The role and whether the account is active, in one round trip; built once, so each
request skips building it and its cache key."""


async def principal_of(
    session: AsyncSession, codec: TokenCodec, revocations: Revocations, token: str
) -> Principal:
    """The caller of an access token: valid, of a live session, of an existing active user."""
    claims = codec.decode(token, realm=REALM, typ="access")
    principal = await live_principal(session, revocations, claims, REALM)
    found = (await session.execute(_PRINCIPAL, {"account_id": principal.account_id})).first()
    if found is None or not found.is_active:
        raise Unauthorized("The account is disabled.", code="account_disabled")
    return replace(principal, role=found.role.value)


async def _current_principal(
    session: SessionDep,
    codec: CodecDep,
    revocations: RevocationsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized("A bearer access token is required.", code="not_authenticated")
    return await principal_of(session, codec, revocations, credentials.credentials)


async def _admin(principal: Annotated[Principal, Depends(_current_principal)]) -> Principal:
    if not principal.has_role(Role.ADMIN.value):
        raise Forbidden("Only administrators may do this.", code="role_forbidden")
    return principal


CurrentUser = Annotated[Principal, Depends(_current_principal)]
Admin = Annotated[Principal, Depends(_admin)]
admin_resolver = _admin
