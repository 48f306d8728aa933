"""Stock HTTP routes: parse, authorize, call the service, shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ensemble.apps.stock import service, sync
from ensemble.apps.stock.auth import (
    REALM,
    AdminUser,
    CurrentUser,
    StoreAdmin,
    StoreMember,
    authorize_store,
    stock_claims,
)
from ensemble.apps.stock.domain import ChangePosition
from ensemble.apps.stock.models import TransactionType
from ensemble.apps.stock.repository import ProductFilter, TransactionFilter
from ensemble.apps.stock.schemas import (
    CategoryCreate,
    CategoryPublic,
    CategoryUpdate,
    ChangesResponse,
    ProductCreate,
    ProductPublic,
    ProductUpdate,
    StockPublic,
    StoreCreate,
    StorePublic,
    StoreUpdate,
    SyncRequest,
    SyncResponse,
    TransactionCreate,
    TransactionPublic,
    TransactionRecorded,
    UserCreate,
    UserPublic,
    UserUpdate,
    product_public,
    stock_public,
)
from ensemble.kernel.db import SessionDep
from ensemble.kernel.edge import max_body
from ensemble.kernel.identity.revocation import RevocationsDep
from ensemble.kernel.identity.router import auth_router
from ensemble.kernel.openapi import Responses, error_responses
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended, Instant, IntegerLiteral

PREFIX = "/api/v1"
_DESCRIBED = {
    401: "No valid token (missing, expired, revoked or another app's), or the account is"
    " disabled (`account_disabled`)",
    403: "Not an admin (`role_forbidden`), or not assigned to the store (`store_forbidden`,"
    " also for a store that does not exist)",
    404: "The store (`store_not_found`, for an admin) or the item does not exist",
    422: "Invalid input (`validation_error`, `invalid_cursor`, …)",
}


def _errors(*errors: int | tuple[int, str]) -> Responses:
    """`responses=` for the error statuses a route can answer (see `_DESCRIBED`)."""
    return error_responses(*errors, described=_DESCRIBED)


_ADMIN = (401, 403, 422)
_NO_USER = (404, "No such user (`user_not_found`)")
_NAME_TAKEN = "Another live category of the store has this name"
_IN_STORE = (401, 403, 404, 422)

users = APIRouter(prefix=f"{PREFIX}/users", tags=["users"])
me = APIRouter(prefix=f"{PREFIX}/auth", tags=["auth"])
stores = APIRouter(prefix=f"{PREFIX}/stores", tags=["stores"])
catalog = APIRouter(prefix=f"{PREFIX}/stores/{{store_id}}", tags=["catalog"])
inventory = APIRouter(prefix=f"{PREFIX}/stores/{{store_id}}/inventory", tags=["inventory"])
sync_router = APIRouter(prefix=f"{PREFIX}/sync", tags=["sync"], responses=_errors(*_IN_STORE))


def _user(view: service.UserView) -> UserPublic:
    user = Extended(view.user, email=view.account.email, store_ids=view.store_ids)
    return UserPublic.model_validate(user)


def _product(view: service.ProductView) -> ProductPublic:
    return product_public(view.product, view.stock)


def _stock(view: service.StockView) -> StockPublic:
    return stock_public(view.stock, view.safety_stock)


# Auth and users


@me.get("/me", responses=_errors(401))
async def read_me(principal: CurrentUser, session: SessionDep) -> UserPublic:
    """The signed-in user with role and stores."""
    return _user(await service.get_user(session, principal.account_id))


@users.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=_errors(*_ADMIN, (409, "The email has an account (`email_taken`)")),
)
async def create_user(body: UserCreate, _: AdminUser, session: SessionDep) -> UserPublic:
    return _user(await service.create_user(session, body))


@users.get("", responses=_errors(*_ADMIN))
async def list_users(_: AdminUser, session: SessionDep, page: PageDep) -> Page[UserPublic]:
    return (await service.list_users(session, page)).map(_user)


@users.get("/{user_id}", responses=_errors(*_ADMIN, _NO_USER))
async def read_user(user_id: uuid.UUID, _: AdminUser, session: SessionDep) -> UserPublic:
    return _user(await service.get_user(session, user_id))


@users.patch("/{user_id}", responses=_errors(*_ADMIN, _NO_USER))
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


@stores.post("", status_code=status.HTTP_201_CREATED, responses=_errors(*_ADMIN))
async def create_store(body: StoreCreate, _: AdminUser, session: SessionDep) -> StorePublic:
    return StorePublic.model_validate(await service.create_store(session, body))


@stores.get("", responses=_errors(401, 422))
async def list_stores(
    principal: CurrentUser, session: SessionDep, page: PageDep
) -> Page[StorePublic]:
    """Every store for an admin; a worker's assigned stores."""
    return (await service.list_stores(session, principal, page)).map(StorePublic.model_validate)


@stores.get("/{store_id}", responses=_errors(*_IN_STORE))
async def read_store(access: StoreMember) -> StorePublic:
    return StorePublic.model_validate(access.store)


@stores.patch("/{store_id}", responses=_errors(*_IN_STORE))
async def update_store(body: StoreUpdate, access: StoreAdmin, session: SessionDep) -> StorePublic:
    return StorePublic.model_validate(await service.update_store(session, access.store, body))


# Categories


@catalog.get("/categories", responses=_errors(*_IN_STORE))
async def list_categories(
    access: StoreMember, session: SessionDep, page: PageDep
) -> Page[CategoryPublic]:
    rows = await service.list_categories(session, access, page)
    return rows.map(CategoryPublic.model_validate)


@catalog.post(
    "/categories",
    status_code=status.HTTP_201_CREATED,
    responses=_errors(*_IN_STORE, (409, f"{_NAME_TAKEN}, or a category has this id (`conflict`)")),
)
async def create_category(
    body: CategoryCreate, access: StoreAdmin, session: SessionDep
) -> CategoryPublic:
    return CategoryPublic.model_validate(await service.create_category(session, access, body))


@catalog.patch(
    "/categories/{category_id}", responses=_errors(*_IN_STORE, (409, f"{_NAME_TAKEN} (`conflict`)"))
)
async def update_category(
    category_id: uuid.UUID, body: CategoryUpdate, access: StoreAdmin, session: SessionDep
) -> CategoryPublic:
    category = await service.update_category(session, access, category_id, body)
    return CategoryPublic.model_validate(category)


@catalog.delete(
    "/categories/{category_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_errors(*_IN_STORE),
)
async def delete_category(
    category_id: uuid.UUID, access: StoreAdmin, session: SessionDep
) -> Response:
    await service.delete_category(session, access, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Products


@catalog.get("/products", responses=_errors(*_IN_STORE))
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
        **_errors(
            *_IN_STORE,
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


@catalog.get("/products/barcode/{barcode}", responses=_errors(*_IN_STORE))
async def read_product_by_barcode(
    barcode: str, access: StoreMember, session: SessionDep
) -> ProductPublic:
    return _product(await service.get_product_by_barcode(session, access, barcode))


@catalog.get("/products/{product_id}", responses=_errors(*_IN_STORE))
async def read_product(
    product_id: uuid.UUID, access: StoreMember, session: SessionDep
) -> ProductPublic:
    return _product(await service.get_product(session, access, product_id))


@catalog.patch(
    "/products/{product_id}",
    responses=_errors(*_IN_STORE, (409, "The barcode is taken (`barcode_taken`)")),
)
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, access: StoreMember, session: SessionDep
) -> ProductPublic:
    """Edit a product now. For last-write-wins the edit is stamped with the server's clock and
    no device id, so a device's offline edit stamped later still wins, as does one stamped
    at the very same instant (any device id is larger than none)."""
    return _product(await service.update_product(session, access, product_id, body))


@catalog.delete(
    "/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_errors(*_IN_STORE)
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
        **_errors(
            *_IN_STORE,
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


@inventory.get("/transactions", responses=_errors(*_IN_STORE))
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


@inventory.get("/stock", responses=_errors(*_IN_STORE))
async def list_stock(
    access: StoreMember, session: SessionDep, page: PageDep, low_only: bool = False
) -> Page[StockPublic]:
    return (await service.list_stock(session, access, low_only, page)).map(_stock)


@inventory.get("/stock/{product_id}", responses=_errors(*_IN_STORE))
async def read_stock(
    product_id: uuid.UUID, access: StoreMember, session: SessionDep
) -> StockPublic:
    return _stock(await service.get_stock(session, access, product_id))


# Sync

SYNC_MAX_BODY_BYTES = 8 * 2**20
"""A full batch (`MAX_SYNC_RECORDS` records) runs past the default body limit."""


@sync_router.post("", openapi_extra=max_body(SYNC_MAX_BODY_BYTES))
async def push(body: SyncRequest, principal: CurrentUser, session: SessionDep) -> SyncResponse:
    """Apply a batch of offline records; every record gets a verdict. Safe to re-send.

    Records are applied in `occurred_at` / `updated_at` order. Products: last write wins on
    `updated_at`, ties to the larger `device_id`. An offline `OUT` that takes stock below
    zero is still **applied** (the goods are already gone), also in a store that does not
    allow negative stock, and its result carries `reason: "negative_stock"` so the device
    can warn. Nothing is dropped silently: each record is `applied`, `duplicate`,
    `superseded` or `rejected` with a reason."""
    access = await authorize_store(session, principal, body.store_id)
    results = await sync.apply_batch(session, access, body)
    resume = ChangePosition.decode(body.cursor)  # validated: a bad cursor is a 422
    return SyncResponse(results=results, cursor=resume.encode())


@sync_router.get("/changes")
async def pull(
    store_id: uuid.UUID,
    principal: CurrentUser,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=1000), IntegerLiteral] = 500,
) -> ChangesResponse:
    """Everything changed in the store after `cursor`; never skips a late-committing change."""
    access = await authorize_store(session, principal, store_id)
    changes = await sync.changes_since(
        session, access.store_id, ChangePosition.decode(cursor), limit
    )
    return ChangesResponse(
        store_id=store_id,
        categories=[CategoryPublic.model_validate(c) for c in changes.categories],
        products=[product_public(p, stock) for p, stock in changes.products],
        transactions=[TransactionPublic.model_validate(t) for t in changes.transactions],
        stock=[stock_public(s, safety) for s, safety in changes.stock],
        cursor=changes.cursor.encode(),
        has_more=changes.has_more,
    )


routers = [
    auth_router(REALM, stock_claims, prefix=f"{PREFIX}/auth"),
    me,
    users,
    stores,
    catalog,
    inventory,
    sync_router,
]
