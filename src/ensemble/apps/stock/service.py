"""Stock use cases: users, stores, categories, products and online stock movements.

Functions take the session first and never commit: the request (or CLI command) owns the
transaction. Offline batch sync and the change feed live in `sync/`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.stock import repository
from ensemble.apps.stock.auth import REALM, StoreAccess, assigned_stores, is_admin
from ensemble.apps.stock.domain import InvalidMovement, product_digest, signed_delta
from ensemble.apps.stock.models import (
    Category,
    CurrentStock,
    InventoryTransaction,
    Product,
    Role,
    Store,
    User,
)
from ensemble.apps.stock.repository import Movement, ProductFilter, ProductRow, TransactionFilter
from ensemble.apps.stock.schemas import (
    CategoryCreate,
    CategoryUpdate,
    ProductCreate,
    ProductUpdate,
    StoreCreate,
    StoreUpdate,
    TransactionCreate,
    UserCreate,
    UserUpdate,
)
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.db.repository import insert
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.identity import service as identity
from ensemble.kernel.identity.models import Account
from ensemble.kernel.identity.principal import Principal
from ensemble.kernel.identity.revocation import Revocations
from ensemble.kernel.pagination import Page, PageRequest

SERVER_DEVICE = ""  # online edits carry no device id: any device wins a same-instant tie


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


async def update_store(session: AsyncSession, store: Store, patch: StoreUpdate) -> Store:
    for field, value in patch.model_dump(exclude_unset=True).items():
        if value is not None or field == "address":
            setattr(store, field, value)
    await session.flush()
    return store


# Categories


async def create_category(
    session: AsyncSession, access: StoreAccess, data: CategoryCreate
) -> Category:
    return await insert(
        session, Category(id=data.id or new_id(), store_id=access.store_id, name=data.name)
    )


async def list_categories(
    session: AsyncSession, access: StoreAccess, page: PageRequest
) -> Page[Category]:
    return await repository.categories_page(session, access.store_id, page)


async def _category(session: AsyncSession, access: StoreAccess, category_id: uuid.UUID) -> Category:
    category = await repository.live_category(session, access.store_id, category_id)
    if category is None:
        raise NotFound("The category does not exist.", code="category_not_found")
    return category


async def update_category(
    session: AsyncSession, access: StoreAccess, category_id: uuid.UUID, patch: CategoryUpdate
) -> Category:
    category = await _category(session, access, category_id)
    category.name = patch.name
    await session.flush()
    return category


async def delete_category(
    session: AsyncSession, access: StoreAccess, category_id: uuid.UUID
) -> None:
    category = await _category(session, access, category_id)
    category.deleted_at = utcnow()
    await session.flush()


# Products


@dataclass(frozen=True)
class ProductView:
    product: Product
    stock: int


def _found(row: ProductRow | None, message: str = "The product does not exist.") -> ProductView:
    """The product of `row` with its stock; `404 product_not_found` when there is none."""
    if row is None:
        raise NotFound(message, code="product_not_found")
    return ProductView(row[0], row[1])


def _content(product: Product) -> dict[str, Any]:
    return {
        "barcode": product.barcode,
        "name": product.name,
        "category_id": product.category_id,
        "unit_price": product.unit_price,
        "safety_stock": product.safety_stock,
        "deleted": product.deleted_at is not None,
    }


async def _check_category(
    session: AsyncSession, store_id: uuid.UUID, category_id: uuid.UUID | None
) -> None:
    if (
        category_id is not None
        and await repository.live_category(session, store_id, category_id) is None
    ):
        raise InvalidInput("The category does not exist in this store.", code="unknown_category")


async def _check_barcode_free(
    session: AsyncSession, store_id: uuid.UUID, barcode: str, owner: uuid.UUID | None
) -> None:
    holder = await repository.live_barcode_owner(session, store_id, barcode)
    if holder is not None and holder != owner:
        raise Conflict("Another product in this store has this barcode.", code="barcode_taken")


async def create_product(
    session: AsyncSession, access: StoreAccess, data: ProductCreate
) -> tuple[ProductView, bool]:
    """Create a product (and its zero stock). Re-sending the same id and content returns the
    existing product (`created` is False); the same id with other content is `409`."""
    fields = data.model_dump(exclude={"id", "updated_at"})
    if data.id is not None and (existing := await session.get(Product, data.id)) is not None:
        if existing.store_id == access.store_id and _content(existing) == {
            **fields,
            "deleted": False,
        }:
            return await get_product(session, access, existing.id), False
        raise Conflict("A product with this id already exists.", code="id_conflict")
    await _check_category(session, access.store_id, data.category_id)
    await _check_barcode_free(session, access.store_id, data.barcode, None)
    product = Product(
        id=data.id or new_id(),
        store_id=access.store_id,
        updated_at=data.updated_at or utcnow(),
        updated_by=SERVER_DEVICE,
        **fields,
    )
    product.version_digest = product_digest(_content(product))
    await insert(session, product)
    await insert(session, CurrentStock(product_id=product.id, store_id=access.store_id, quantity=0))
    return ProductView(product, 0), True


async def get_product(
    session: AsyncSession, access: StoreAccess, product_id: uuid.UUID
) -> ProductView:
    return _found(await repository.product_in_store(session, access.store_id, product_id))


async def get_product_by_barcode(
    session: AsyncSession, access: StoreAccess, barcode: str
) -> ProductView:
    row = await repository.product_by_barcode(session, access.store_id, barcode)
    return _found(row, "No product has this barcode.")


async def list_products(
    session: AsyncSession,
    access: StoreAccess,
    filters: ProductFilter,
    page: PageRequest,
) -> Page[ProductView]:
    rows = await repository.products_page(session, access.store_id, filters, page)
    return rows.map(lambda row: ProductView(row[0], row[1]))


async def update_product(
    session: AsyncSession, access: StoreAccess, product_id: uuid.UUID, patch: ProductUpdate
) -> ProductView:
    row = await repository.product_in_store(session, access.store_id, product_id, for_update=True)
    found = _found(row)
    product = found.product
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("barcode") not in (None, product.barcode):
        await _check_barcode_free(session, access.store_id, changes["barcode"], product.id)
    if "category_id" in changes:
        await _check_category(session, access.store_id, changes["category_id"])
    for field, value in changes.items():
        if value is not None or field == "category_id":
            setattr(product, field, value)
    _touch(product)
    await session.flush()
    return found


def _touch(product: Product) -> None:
    """Stamp an online edit as the product's newest version for last-write-wins."""
    product.updated_at = max(utcnow(), product.updated_at)
    product.updated_by = SERVER_DEVICE
    product.version_digest = product_digest(_content(product))
    product.synced_at = utcnow()


async def delete_product(session: AsyncSession, access: StoreAccess, product_id: uuid.UUID) -> None:
    row = await repository.product_in_store(session, access.store_id, product_id, for_update=True)
    product = _found(row).product
    product.deleted_at = utcnow()
    _touch(product)
    await session.flush()


# Online stock movements


@dataclass(frozen=True)
class StockView:
    stock: CurrentStock
    safety_stock: int


@dataclass(frozen=True)
class Recorded:
    transaction: InventoryTransaction
    stock: StockView
    created: bool


def _same_movement(
    existing: InventoryTransaction, store_id: uuid.UUID, data: TransactionCreate
) -> bool:
    return (existing.store_id, existing.product_id, existing.type, existing.quantity) == (
        store_id,
        data.product_id,
        data.type,
        data.quantity,
    )


async def _replay(
    session: AsyncSession, access: StoreAccess, transaction_id: uuid.UUID, data: TransactionCreate
) -> Recorded | None:
    existing = await session.get(InventoryTransaction, transaction_id, populate_existing=True)
    if existing is None:
        return None
    if not _same_movement(existing, access.store_id, data):
        raise Conflict("A different transaction already has this id.", code="id_conflict")
    return Recorded(existing, await get_stock(session, access, existing.product_id), created=False)


async def record_transaction(
    session: AsyncSession, access: StoreAccess, data: TransactionCreate
) -> Recorded:
    """Append one movement and move the stock in the same transaction.

    An `OUT` (or negative `ADJUST`) that would take stock below zero is `409
    insufficient_stock` unless the store allows negative stock. Re-sending the same `id`
    applies nothing and returns the original (`created` is False).
    """
    try:
        delta = signed_delta(data.type, data.quantity)
    except InvalidMovement as exc:
        raise InvalidInput("The quantity is not valid for this type.", code=str(exc)) from exc
    transaction_id = data.id or new_id()
    if data.id is not None and (replayed := await _replay(session, access, data.id, data)):
        return replayed
    now = utcnow()
    movement = Movement(
        id=transaction_id,
        store_id=access.store_id,
        product_id=data.product_id,
        type=data.type,
        quantity=data.quantity,
        delta=delta,
        reason=data.reason,
        occurred_at=data.occurred_at or now,
        created_at=now,
        user_id=access.principal.account_id,
    )
    allow_negative = access.store.allow_negative_stock or delta >= 0
    outcome = await repository.move_stock(session, movement, allow_negative=allow_negative)
    if not outcome.found:
        raise NotFound("The product does not exist.", code="product_not_found")
    if outcome.logged is None:  # the same id committed concurrently
        replayed = await _replay(session, access, transaction_id, data)
        assert replayed is not None
        return replayed
    if outcome.moved is None:
        raise Conflict(
            "Not enough stock for this movement.",
            code="insufficient_stock",
            details={"available": outcome.available, "requested": -delta},
        )
    return Recorded(outcome.logged, StockView(outcome.moved, outcome.safety_stock), created=True)


async def get_stock(session: AsyncSession, access: StoreAccess, product_id: uuid.UUID) -> StockView:
    row = await repository.stock_row(session, access.store_id, product_id)
    if row is None:
        raise NotFound("The product does not exist.", code="product_not_found")
    return StockView(row[0], row[1])


async def list_stock(
    session: AsyncSession, access: StoreAccess, low_only: bool, page: PageRequest
) -> Page[StockView]:
    rows = await repository.stock_page(session, access.store_id, low_only, page)
    return rows.map(lambda row: StockView(row[0], row[1]))


async def list_transactions(
    session: AsyncSession,
    access: StoreAccess,
    filters: TransactionFilter,
    page: PageRequest,
) -> Page[InventoryTransaction]:
    return await repository.transactions_page(session, access.store_id, filters, page)


async def stock_drift(session: AsyncSession) -> list[dict[str, Any]]:
    return [
        {"product_id": pid, "store_id": sid, "kept": kept, "from_log": logged}
        for pid, sid, kept, logged in await repository.stock_drift(session)
    ]
