"""Stock's routers: auth, users and stores here, each domain's in its package (`catalog`,
`inventory`, `sync`), each router under `PREFIX`."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from ensemble.apps.stock import service
from ensemble.apps.stock.auth import (
    REALM,
    AdminUser,
    CurrentUser,
    StoreAdmin,
    StoreMember,
    stock_claims,
)
from ensemble.apps.stock.catalog import endpoints as catalog
from ensemble.apps.stock.inventory import endpoints as inventory
from ensemble.apps.stock.schemas import (
    ADMIN,
    IN_STORE,
    PREFIX,
    StoreCreate,
    StorePublic,
    StoreUpdate,
    UserCreate,
    UserPublic,
    UserUpdate,
    errors,
)
from ensemble.apps.stock.sync import endpoints as sync
from ensemble.kernel.db import SessionDep
from ensemble.kernel.identity.revocation import RevocationsDep
from ensemble.kernel.identity.router import auth_router
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended

_NO_USER = (404, "No such user (`user_not_found`)")

users = APIRouter(prefix=f"{PREFIX}/users", tags=["users"])
me = APIRouter(prefix=f"{PREFIX}/auth", tags=["auth"])
stores = APIRouter(prefix=f"{PREFIX}/stores", tags=["stores"])


def _user(view: service.UserView) -> UserPublic:
    user = Extended(view.user, email=view.account.email, store_ids=view.store_ids)
    return UserPublic.model_validate(user)


# Auth and users


@me.get("/me", responses=errors(401))
async def read_me(principal: CurrentUser, session: SessionDep) -> UserPublic:
    """The signed-in user with role and stores."""
    return _user(await service.get_user(session, principal.account_id))


@users.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors(*ADMIN, (409, "The email has an account (`email_taken`)")),
)
async def create_user(body: UserCreate, _: AdminUser, session: SessionDep) -> UserPublic:
    return _user(await service.create_user(session, body))


@users.get("", responses=errors(*ADMIN))
async def list_users(_: AdminUser, session: SessionDep, page: PageDep) -> Page[UserPublic]:
    return (await service.list_users(session, page)).map(_user)


@users.get("/{user_id}", responses=errors(*ADMIN, _NO_USER))
async def read_user(user_id: uuid.UUID, _: AdminUser, session: SessionDep) -> UserPublic:
    return _user(await service.get_user(session, user_id))


@users.patch("/{user_id}", responses=errors(*ADMIN, _NO_USER))
async def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    _: AdminUser,
    session: SessionDep,
    revocations: RevocationsDep,
) -> UserPublic:
    """Change role, stores, name, password or active flag; a new password or disabling ends
    all the user's sessions (their access tokens are refused at once)."""
    return _user(await service.update_user(session, user_id, body, revocations))


# Stores


@stores.post("", status_code=status.HTTP_201_CREATED, responses=errors(*ADMIN))
async def create_store(body: StoreCreate, _: AdminUser, session: SessionDep) -> StorePublic:
    return StorePublic.model_validate(await service.create_store(session, body))


@stores.get("", responses=errors(401, 422))
async def list_stores(
    principal: CurrentUser, session: SessionDep, page: PageDep
) -> Page[StorePublic]:
    """Every store for an admin; a worker's assigned stores."""
    return (await service.list_stores(session, principal, page)).map(StorePublic.model_validate)


@stores.get("/{store_id}", responses=errors(*IN_STORE))
async def read_store(access: StoreMember) -> StorePublic:
    return access.store


@stores.patch("/{store_id}", responses=errors(*IN_STORE))
async def update_store(body: StoreUpdate, access: StoreAdmin, session: SessionDep) -> StorePublic:
    return StorePublic.model_validate(await service.update_store(session, access.store_id, body))


routers = [
    auth_router(REALM, stock_claims, prefix=f"{PREFIX}/auth"),
    me,
    users,
    stores,
    *(domain.router for domain in (catalog, inventory, sync)),  # `<domain>.endpoints`
]
