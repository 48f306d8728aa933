"""Every ECO² auth rule in one place: own accounts (realm `eco`), the token's session checked
against the revoked sessions on each request, and the role read live from the database (a
demoted admin loses access at once)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import Uuid, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco.models import Role, User
from ensemble.kernel.identity.cache import watch_tables
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.principal import (
    AccountDisabled,
    Principal,
    bearer,
    own_accounts,
    require_roles,
)

REALM = "eco"


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


async def _live(session: AsyncSession, token: Principal) -> Principal:
    """The caller of a live session as it is now: an existing active user, its role."""
    found = (await session.execute(_PRINCIPAL, {"account_id": token.account_id})).first()
    if found is None or not found.is_active:
        raise AccountDisabled()
    return replace(token, role=found.role.value)


watch_tables(REALM, [User, Account])
principal_of = own_accounts(REALM, _live)
"""The caller of an ECO² access token, for requests and sockets alike."""
current_principal = bearer(principal_of)
admin_resolver = require_roles(current_principal, Role.ADMIN.value)
CurrentUser = Annotated[Principal, Depends(current_principal)]
