"""Every Focus Mate auth rule in one place: own accounts (realm `focus`), the token's session
checked against the revoked sessions on each request, the role read live (cached per
process, forgotten when `users` changes) and suspended users refused."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import Uuid, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.models import Role, User
from ensemble.kernel.identity.cache import watch_tables
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.principal import (
    AccountDisabled,
    Principal,
    bearer,
    own_accounts,
    require_roles,
)

REALM = "focus"


async def claims_of(session: AsyncSession, account: Account) -> dict[str, Any]:
    """The Focus Mate claims of a token (the role, informational: requests read it live);
    a suspended user gets none (401 `account_disabled` at login and refresh)."""
    user = await session.get(User, account.id)
    if user is not None and user.suspended_at is not None:
        raise AccountDisabled()
    return {"role": (user.role if user else Role.USER).value}


_PRINCIPAL = (
    select(User.role, User.suspended_at, Account.is_active)
    .join(Account, Account.id == User.account_id)
    .where(User.account_id == bindparam("account_id", type_=Uuid))
)


async def _live(session: AsyncSession, token: Principal) -> Principal:
    """The caller of a live session as it is now: an active, unsuspended user and its role."""
    found = (await session.execute(_PRINCIPAL, {"account_id": token.account_id})).first()
    if found is None or not found.is_active or found.suspended_at is not None:
        raise AccountDisabled()
    return replace(token, role=found.role.value)


watch_tables(REALM, [User, Account])
principal_of = own_accounts(REALM, _live)
"""The caller of a Focus Mate access token, for requests and sockets alike."""
current_principal = bearer(principal_of)
CurrentUser = Annotated[Principal, Depends(current_principal)]
MODERATORS = (Role.MODERATOR.value, Role.ADMIN.value)
"""The roles that moderate: `Moderator` routes, and comments any of them may delete."""
Moderator = Annotated[Principal, Depends(require_roles(current_principal, *MODERATORS))]
"""A moderator or an administrator (the moderation routes)."""
