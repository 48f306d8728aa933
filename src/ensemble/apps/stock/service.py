"""Stock use cases of the whole app: users and stores.

Functions take the session first and never commit: the request (or CLI command) owns the
transaction. Each domain has its own: `catalog/` (categories, products), `inventory/`
(online stock movements), `sync/` (offline batch sync, change feed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.stock import repository
from ensemble.apps.stock.auth import REALM, assigned_stores, is_admin
from ensemble.apps.stock.models import Role, Store, User
from ensemble.apps.stock.schemas import StoreCreate, StoreUpdate, UserCreate, UserUpdate
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.db.repository import insert
from ensemble.kernel.errors import InvalidInput, NotFound
from ensemble.kernel.identity import service as identity
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.principal import Principal
from ensemble.kernel.identity.revocation import Revocations
from ensemble.kernel.pagination import Page, PageRequest

# Users


@dataclass(frozen=True)
class UserView:
    user: User
    account: Account
    store_ids: list[uuid.UUID]


async def _require_stores(session: AsyncSession, store_ids: set[uuid.UUID]) -> None:
    missing = store_ids - await repository.existing_store_ids(session, store_ids)
    if missing:
        raise InvalidInput(
            "Some stores do not exist.",
            code="unknown_store",
            details={"store_ids": sorted(str(s) for s in missing)},
        )


async def create_user(session: AsyncSession, data: UserCreate) -> UserView:
    store_ids = set(data.store_ids)
    await _require_stores(session, store_ids)
    account = await identity.create_account(
        session, realm=REALM, email=data.email, password=data.password
    )
    user = await insert(
        session, User(id=account.id, name=data.name, role=data.role, is_active=True)
    )
    await repository.replace_user_stores(session, user.id, store_ids)
    return UserView(user=user, account=account, store_ids=sorted(store_ids))


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> UserView:
    found = await repository.user_with_account(session, user_id)
    if found is None:
        raise NotFound("The user does not exist.", code="user_not_found")
    user, account = found
    stores = await repository.user_store_ids(session, [user.id])
    return UserView(user=user, account=account, store_ids=sorted(stores[user.id]))


async def list_users(session: AsyncSession, page: PageRequest) -> Page[UserView]:
    rows = await repository.users_page(session, page)
    stores = await repository.user_store_ids(session, [user.id for user, _ in rows.items])
    return rows.map(lambda row: UserView(row[0], row[1], sorted(stores[row[0].id])))


async def update_user(
    session: AsyncSession, user_id: uuid.UUID, patch: UserUpdate, revocations: Revocations
) -> UserView:
    view = await get_user(session, user_id)
    user, account = view.user, view.account
    fields = patch.model_fields_set
    if "name" in fields and patch.name is not None:
        user.name = patch.name
    if "role" in fields and patch.role is not None:
        user.role = patch.role
    if "is_active" in fields and patch.is_active is not None:
        user.is_active = account.is_active = patch.is_active
        if not patch.is_active:
            await identity.revoke_all_sessions(session, user.id, revocations)
    if "password" in fields and patch.password is not None:
        await identity.set_password(session, account, patch.password, revocations)
    if "store_ids" in fields and patch.store_ids is not None:
        await _require_stores(session, set(patch.store_ids))
        await repository.replace_user_stores(session, user.id, set(patch.store_ids))
    user.updated_at = utcnow()
    await session.flush()
    return await get_user(session, user_id)


async def create_admin(session: AsyncSession, *, email: str, password: str, name: str) -> UserView:
    return await create_user(
        session, UserCreate(email=email, password=password, name=name, role=Role.ADMIN)
    )


# Stores


async def create_store(session: AsyncSession, data: StoreCreate) -> Store:
    return await insert(session, Store(id=new_id(), **data.model_dump()))


async def list_stores(
    session: AsyncSession, principal: Principal, page: PageRequest
) -> Page[Store]:
    only = None if is_admin(principal) else await assigned_stores(session, principal)
    return await repository.stores_page(session, only, page)


async def update_store(session: AsyncSession, store_id: uuid.UUID, patch: StoreUpdate) -> Store:
    store = await session.get(Store, store_id)
    if store is None:
        raise NotFound("The store does not exist.", code="store_not_found")
    for field, value in patch.model_dump(exclude_unset=True).items():
        if value is not None or field == "address":
            setattr(store, field, value)
    await session.flush()
    return store
