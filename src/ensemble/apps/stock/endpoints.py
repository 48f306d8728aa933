"""Stock HTTP routes: parse, authorize, call the service, shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ensemble.apps.stock import service
from ensemble.apps.stock.auth import (
    REALM,
    AdminUser,
    CurrentUser,
    StoreAdmin,
    StoreMember,
    stock_claims,
)
from ensemble.apps.stock.models import TransactionType
from ensemble.apps.stock.repository import ProductFilter, TransactionFilter
from ensemble.apps.stock.schemas import (
    ADMIN,
    IN_STORE,
    CategoryCreate,
    CategoryPublic,
    CategoryUpdate,
    ProductCreate,
    ProductPublic,
    ProductUpdate,
    StockPublic,
    StoreCreate,
    StorePublic,
    StoreUpdate,
    TransactionCreate,
    TransactionPublic,
    TransactionRecorded,
    UserCreate,
    UserPublic,
    UserUpdate,
    errors,
    product_public,
    stock_public,
)
from ensemble.apps.stock.sync import endpoints as sync
from ensemble.kernel.db import SessionDep
from ensemble.kernel.identity.revocation import RevocationsDep
from ensemble.kernel.identity.router import auth_router
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended, Instant

PREFIX = "/api/v1"
_NO_USER = (404, "No such user (`user_not_found`)")
_NAME_TAKEN = "Another live category of the store has this name"

users = APIRouter(prefix=f"{PREFIX}/users", tags=["users"])
me = APIRouter(prefix=f"{PREFIX}/auth", tags=["auth"])
stores = APIRouter(prefix=f"{PREFIX}/stores", tags=["stores"])
catalog = APIRouter(prefix=f"{PREFIX}/stores/{{store_id}}", tags=["catalog"])
inventory = APIRouter(prefix=f"{PREFIX}/stores/{{store_id}}/inventory", tags=["inventory"])


def _user(view: service.UserView) -> UserPublic:
    user = Extended(view.user, email=view.account.email, store_ids=view.store_ids)
    return UserPublic.model_validate(user)


def _product(view: service.ProductView) -> ProductPublic:
    return product_public(view.product, view.stock)


def _stock(view: service.StockView) -> StockPublic:
    return stock_public(view.stock, view.safety_stock)


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
    return StorePublic.model_validate(access.store)


@stores.patch("/{store_id}", responses=errors(*IN_STORE))
async def update_store(body: StoreUpdate, access: StoreAdmin, session: SessionDep) -> StorePublic:
    return StorePublic.model_validate(await service.update_store(session, access.store, body))


# Categories


@catalog.get("/categories", responses=errors(*IN_STORE))
async def list_categories(
    access: StoreMember, session: SessionDep, page: PageDep
) -> Page[CategoryPublic]:
    rows = await service.list_categories(session, access, page)
    return rows.map(CategoryPublic.model_validate)


@catalog.post(
    "/categories",
    status_code=status.HTTP_201_CREATED,
    responses=errors(*IN_STORE, (409, f"{_NAME_TAKEN}, or a category has this id (`conflict`)")),
)
async def create_category(
    body: CategoryCreate, access: StoreAdmin, session: SessionDep
) -> CategoryPublic:
    return CategoryPublic.model_validate(await service.create_category(session, access, body))


@catalog.patch(
    "/categories/{category_id}", responses=errors(*IN_STORE, (409, f"{_NAME_TAKEN} (`conflict`)"))
)
async def update_category(
    category_id: uuid.UUID, body: CategoryUpdate, access: StoreAdmin, session: SessionDep
) -> CategoryPublic:
    category = await service.update_category(session, access, category_id, body)
    return CategoryPublic.model_validate(category)


@catalog.delete(
    "/categories/{category_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*IN_STORE),
)
async def delete_category(
    category_id: uuid.UUID, access: StoreAdmin, session: SessionDep
) -> Response:
    await service.delete_category(session, access, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Products


@catalog.get("/products", responses=errors(*IN_STORE))
async def list_products(
    access: StoreMember,
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Name or barcode prefix")] = None,
    category_id: uuid.UUID | None = None,
    low_stock: bool | None = None,
) -> Page[ProductPublic]:
    filters = ProductFilter(query=q, category_id=category_id, low_stock=low_stock)
    return (await service.list_products(session, access, filters, page)).map(_product)


@catalog.post(
    "/products",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ProductPublic, "description": "Same id re-sent: nothing changed"},
        **errors(
            *IN_STORE,
            (409, "The barcode is taken (`barcode_taken`) or the id is (`id_conflict`)"),
        ),
    },
)
async def create_product(
    body: ProductCreate, access: StoreMember, session: SessionDep, response: Response
) -> ProductPublic:
    view, created = await service.create_product(session, access, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _product(view)


@catalog.get("/products/barcode/{barcode}", responses=errors(*IN_STORE))
async def read_product_by_barcode(
    barcode: str, access: StoreMember, session: SessionDep
) -> ProductPublic:
    return _product(await service.get_product_by_barcode(session, access, barcode))


@catalog.get("/products/{product_id}", responses=errors(*IN_STORE))
async def read_product(
    product_id: uuid.UUID, access: StoreMember, session: SessionDep
) -> ProductPublic:
    return _product(await service.get_product(session, access, product_id))


@catalog.patch(
    "/products/{product_id}",
    responses=errors(*IN_STORE, (409, "The barcode is taken (`barcode_taken`)")),
)
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, access: StoreMember, session: SessionDep
) -> ProductPublic:
    """Edit a product now. For last-write-wins the edit is stamped with the server's clock and
    no device id, so a device's offline edit stamped later still wins, as does one stamped
    at the very same instant (any device id is larger than none)."""
    return _product(await service.update_product(session, access, product_id, body))


@catalog.delete(
    "/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(*IN_STORE)
)
async def delete_product(
    product_id: uuid.UUID, access: StoreAdmin, session: SessionDep
) -> Response:
    """Soft delete: the product disappears from lists; its history stays."""
    await service.delete_product(session, access, product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Inventory


@inventory.post(
    "/transactions",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": TransactionRecorded, "description": "Same id re-sent: nothing applied"},
        **errors(
            *IN_STORE,
            (
                409,
                "Stock would go below zero in a store that does not allow it"
                " (`insufficient_stock`), or the id holds another movement (`id_conflict`)",
            ),
        ),
    },
)
async def record_transaction(
    body: TransactionCreate, access: StoreMember, session: SessionDep, response: Response
) -> TransactionRecorded:
    recorded = await service.record_transaction(session, access, body)
    if not recorded.created:
        response.status_code = status.HTTP_200_OK
    return TransactionRecorded(
        transaction=TransactionPublic.model_validate(recorded.transaction),
        stock=_stock(recorded.stock),
    )


@inventory.get("/transactions", responses=errors(*IN_STORE))
async def list_transactions(
    access: StoreMember,
    session: SessionDep,
    page: PageDep,
    product_id: uuid.UUID | None = None,
    type: TransactionType | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> Page[TransactionPublic]:
    """The append-only log, newest first."""
    filters = TransactionFilter(product_id=product_id, type=type, since=since, until=until)
    rows = await service.list_transactions(session, access, filters, page)
    return rows.map(TransactionPublic.model_validate)


@inventory.get("/stock", responses=errors(*IN_STORE))
async def list_stock(
    access: StoreMember, session: SessionDep, page: PageDep, low_only: bool = False
) -> Page[StockPublic]:
    return (await service.list_stock(session, access, low_only, page)).map(_stock)


@inventory.get("/stock/{product_id}", responses=errors(*IN_STORE))
async def read_stock(
    product_id: uuid.UUID, access: StoreMember, session: SessionDep
) -> StockPublic:
    return _stock(await service.get_stock(session, access, product_id))


domains = APIRouter(prefix=PREFIX)
for domain in (sync,):  # imported as `<domain>.endpoints`
    domains.include_router(domain.router)

routers = [
    auth_router(REALM, stock_claims, prefix=f"{PREFIX}/auth"),
    me,
    users,
    stores,
    catalog,
    inventory,
    domains,
]
