"""Every Stock auth rule in one place: the realm, its claims, roles and store scoping.

A WORKER may touch only the stores it is assigned to: any other store is `403`, whether or
not it exists, so ids never leak through a 404/403 difference. Role, activity and store
assignments are read from the database on every request, so a change applies at once (the
token's `role`/`stores` claims are for clients to display).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from ensemble.apps.stock import repository
from ensemble.apps.stock.models import Role, Store, User, UserStore
from ensemble.apps.stock.schemas import StorePublic
from ensemble.kernel.db import SessionDep
from ensemble.kernel.errors import Forbidden, NotFound
from ensemble.kernel.identity.cache import auth_cache, watch_tables
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.principal import (
    AccessCredentials,
    AccountDisabled,
    Principal,
    bearer,
    own_accounts,
    require_roles,
)

REALM = "stock"


async def _live(session: AsyncSession, token: Principal) -> Principal:
    """The caller as the database knows them now: a disabled user is refused and a changed
    role applies at once, not when the 60-minute token expires."""
    user = await session.get(User, token.account_id)
    if user is None or not user.is_active:
        raise AccountDisabled()
    return replace(token, role=user.role.value)


watch_tables(REALM, [User, UserStore, Store])
current_principal = bearer(own_accounts(REALM, _live))
CurrentUser = Annotated[Principal, Depends(current_principal)]
AdminUser = Annotated[Principal, Depends(require_roles(current_principal, Role.ADMIN))]


async def stock_claims(session: AsyncSession, account: Account) -> dict[str, Any]:
    """The claims of a Stock token: role and assigned stores; disabled users get none."""
    user = await session.get(User, account.id)
    if user is None or not user.is_active:
        raise AccountDisabled()
    stores = await repository.user_store_ids(session, [user.id])
    return {"role": user.role.value, "stores": [str(s) for s in stores[user.id]]}


def is_admin(principal: Principal) -> bool:
    return principal.role == Role.ADMIN


async def assigned_stores(session: AsyncSession, principal: Principal) -> set[uuid.UUID]:
    """The stores the caller is assigned to now (the token's `stores` claim may be stale)."""
    return set(
        (await repository.user_store_ids(session, [principal.account_id]))[principal.account_id]
    )


async def _is_assigned(session: AsyncSession, principal: Principal, store_id: uuid.UUID) -> bool:
    stmt = select(UserStore.store_id).where(
        UserStore.user_id == principal.account_id, UserStore.store_id == store_id
    )
    return (await session.execute(stmt)).first() is not None


@dataclass(frozen=True)
class StoreAccess:
    """A store the caller may work in, and who the caller is."""

    store: StorePublic  # what requests read of it, kept with the caller's grant
    principal: Principal

    @property
    def store_id(self) -> uuid.UUID:
        return self.store.id


async def _admitted_store(
    session: AsyncSession, principal: Principal, store_id: uuid.UUID
) -> StorePublic:
    if not is_admin(principal) and not await _is_assigned(session, principal, store_id):
        raise Forbidden("You are not assigned to this store.", code="store_forbidden")
    store = await session.get(Store, store_id)
    if store is None:
        raise NotFound("The store does not exist.", code="store_not_found")
    return StorePublic.model_validate(store)


async def authorize_store(
    connection: HTTPConnection, session: AsyncSession, principal: Principal, store_id: uuid.UUID
) -> StoreAccess:
    """The caller's access to `store_id` (403 unless admin or assigned, 404 if none), from
    the process's auth cache while the store and the caller's assignments are unchanged."""
    grant = (principal.account_id, principal.role, store_id)
    load = partial(_admitted_store, session, principal, store_id)
    cache = auth_cache(connection)
    store = await (cache.grant(REALM, grant, load) if cache is not None else load())
    return StoreAccess(store=store, principal=principal)


async def _store_member(
    store_id: uuid.UUID, request: Request, credentials: AccessCredentials, session: SessionDep
) -> StoreAccess:
    """The caller's access to the store of the path. It resolves the caller itself rather
    than through `CurrentUser`: one dependency fewer on every store route."""
    principal = await current_principal(request, credentials, session)
    return await authorize_store(request, session, principal, store_id)


async def _store_admin(access: Annotated[StoreAccess, Depends(_store_member)]) -> StoreAccess:
    if not is_admin(access.principal):
        raise Forbidden("Only an admin may do this.", code="role_forbidden")
    return access


StoreMember = Annotated[StoreAccess, Depends(_store_member)]
StoreAdmin = Annotated[StoreAccess, Depends(_store_admin)]
