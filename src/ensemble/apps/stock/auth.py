"""Every Stock auth rule in one place: the realm, its claims, roles and store scoping.

A WORKER may touch only the stores in its `stores` claim: any other store is `403`, whether
or not it exists, so ids never leak through a 404/403 difference.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.stock import repository
from ensemble.apps.stock.models import Role, Store, User
from ensemble.kernel.db import SessionDep
from ensemble.kernel.errors import Forbidden, NotFound, Unauthorized
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.principal import Principal, bearer_principal, require_roles

REALM = "stock"

current_principal = bearer_principal(REALM)
CurrentUser = Annotated[Principal, Depends(current_principal)]
AdminUser = Annotated[Principal, Depends(require_roles(current_principal, Role.ADMIN))]


async def stock_claims(session: AsyncSession, account: Account) -> dict[str, Any]:
    """The claims of a Stock token: role and assigned stores; disabled users get none."""
    user = await session.get(User, account.id)
    if user is None or not user.is_active:
        raise Unauthorized("The account is disabled.", code="account_disabled")
    stores = await repository.user_store_ids(session, [user.id])
    return {"role": user.role.value, "stores": [str(s) for s in stores[user.id]]}


def is_admin(principal: Principal) -> bool:
    return principal.role == Role.ADMIN


def assigned_stores(principal: Principal) -> set[uuid.UUID]:
    try:
        return {uuid.UUID(str(s)) for s in principal.claims.get("stores", [])}
    except ValueError:
        return set()


@dataclass(frozen=True)
class StoreAccess:
    """A store the caller may work in, loaded once per request."""

    store: Store
    principal: Principal

    @property
    def store_id(self) -> uuid.UUID:
        return self.store.id


async def authorize_store(
    session: AsyncSession, principal: Principal, store_id: uuid.UUID
) -> StoreAccess:
    if not is_admin(principal) and store_id not in assigned_stores(principal):
        raise Forbidden("You are not assigned to this store.", code="store_forbidden")
    store = await session.get(Store, store_id)
    if store is None:
        raise NotFound("The store does not exist.", code="store_not_found")
    return StoreAccess(store=store, principal=principal)


async def _store_member(
    store_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> StoreAccess:
    return await authorize_store(session, principal, store_id)


async def _store_admin(access: Annotated[StoreAccess, Depends(_store_member)]) -> StoreAccess:
    if not is_admin(access.principal):
        raise Forbidden("Only an admin may do this.", code="role_forbidden")
    return access


StoreMember = Annotated[StoreAccess, Depends(_store_member)]
StoreAdmin = Annotated[StoreAccess, Depends(_store_admin)]
