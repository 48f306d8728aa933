"""Stock queries. No business rules here: filters, keyset pages and atomic statements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.stock.models import (
    Category,
    CurrentStock,
    InventoryTransaction,
    Product,
    Store,
    TransactionType,
    User,
    UserStore,
)
from ensemble.kernel.db.raw import read_one, transaction_connection
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.identity.models import Account
from ensemble.kernel.pagination import Page, PageRequest, as_fetched, paginate

ProductRow = Row[Product, int] | tuple[Product, int]

stores = Repository(Store)
categories = Repository(Category)
transactions = Repository(InventoryTransaction)


def _product_with_stock() -> Any:
    return select(Product, func.coalesce(CurrentStock.quantity, 0).label("stock")).outerjoin(
        CurrentStock, CurrentStock.product_id == Product.id
    )


# Users


async def user_store_ids(
    session: AsyncSession, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    stmt = select(UserStore.user_id, UserStore.store_id).where(UserStore.user_id.in_(user_ids))
    stores: dict[uuid.UUID, list[uuid.UUID]] = {user_id: [] for user_id in user_ids}
    for user_id, store_id in (await session.execute(stmt)).all():
        stores[user_id].append(store_id)
    return stores


async def user_with_account(
    session: AsyncSession, user_id: uuid.UUID
) -> tuple[User, Account] | None:
    stmt = select(User, Account).join(Account, Account.id == User.id).where(User.id == user_id)
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (row[0], row[1])


async def users_page(session: AsyncSession, request: PageRequest) -> Page[Row[User, Account]]:
    stmt = select(User, Account).join(Account, Account.id == User.id)
    return await paginate(session, stmt, request, keys=(User.id,), item=as_fetched)


async def replace_user_stores(
    session: AsyncSession, user_id: uuid.UUID, store_ids: set[uuid.UUID]
) -> None:
    await session.execute(delete(UserStore).where(UserStore.user_id == user_id))
    if store_ids:
        await session.execute(
            insert(UserStore), [{"user_id": user_id, "store_id": s} for s in sorted(store_ids)]
        )


async def existing_store_ids(session: AsyncSession, store_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    stmt = select(Store.id).where(Store.id.in_(store_ids))
    return set((await session.execute(stmt)).scalars())


# Stores


async def stores_page(
    session: AsyncSession, only: set[uuid.UUID] | None, request: PageRequest
) -> Page[Store]:
    stmt = stores.select()
    if only is not None:
        stmt = stmt.where(Store.id.in_(only))
    return await stores.page(session, stmt, request, (Store.id,))


# Categories


async def categories_page(
    session: AsyncSession, store_id: uuid.UUID, request: PageRequest
) -> Page[Category]:
    stmt = categories.select().where(Category.store_id == store_id, Category.deleted_at.is_(None))
    return await categories.page(session, stmt, request, (Category.id,))


async def live_category(
    session: AsyncSession, store_id: uuid.UUID, category_id: uuid.UUID
) -> Category | None:
    stmt = select(Category).where(
        Category.id == category_id, Category.store_id == store_id, Category.deleted_at.is_(None)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# Products


async def product_in_store(
    session: AsyncSession, store_id: uuid.UUID, product_id: uuid.UUID, *, for_update: bool = False
) -> ProductRow | None:
    stmt = _product_with_stock().where(
        Product.id == product_id, Product.store_id == store_id, Product.deleted_at.is_(None)
    )
    if for_update:
        stmt = stmt.with_for_update(of=Product)
    return (await session.execute(stmt)).one_or_none()


_PRODUCT_COLUMNS = tuple(column.key for column in Product.__table__.columns)
_PRODUCT_BY_BARCODE = f"""
SELECT {", ".join(f"p.{c}" for c in _PRODUCT_COLUMNS)}, coalesce(s.quantity, 0) AS stock
FROM stock.products p LEFT JOIN stock.current_stock s ON s.product_id = p.id
WHERE p.store_id = $1 AND p.barcode = $2 AND p.deleted_at IS NULL
"""
"""The scanner's lookup, in plain SQL: the hottest read of the API (`read_one`)."""


async def product_by_barcode(
    session: AsyncSession, store_id: uuid.UUID, barcode: str
) -> tuple[Product, int] | None:
    row = await read_one(session, _PRODUCT_BY_BARCODE, store_id, barcode)
    if row is None:
        return None
    return Product(**{c: row[c] for c in _PRODUCT_COLUMNS}), row["stock"]


async def live_barcode_owner(
    session: AsyncSession, store_id: uuid.UUID, barcode: str
) -> uuid.UUID | None:
    stmt = select(Product.id).where(
        Product.store_id == store_id, Product.barcode == barcode, Product.deleted_at.is_(None)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class ProductFilter:
    query: str | None = None
    category_id: uuid.UUID | None = None
    low_stock: bool | None = None


def _like_prefix(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


async def products_page(
    session: AsyncSession,
    store_id: uuid.UUID,
    filters: ProductFilter,
    request: PageRequest,
) -> Page[ProductRow]:
    stmt = _product_with_stock().where(Product.store_id == store_id, Product.deleted_at.is_(None))
    if filters.query:
        prefix = _like_prefix(filters.query)
        stmt = stmt.where(
            or_(
                func.lower(Product.name).like(func.lower(prefix)),
                Product.barcode.like(prefix),
            )
        )
    if filters.category_id is not None:
        stmt = stmt.where(Product.category_id == filters.category_id)
    if filters.low_stock is not None:
        low = func.coalesce(CurrentStock.quantity, 0) <= Product.safety_stock
        stmt = stmt.where(low if filters.low_stock else ~low)
    return await paginate(session, stmt, request, keys=(Product.id,), item=as_fetched)


# Stock and transactions


_MOVE_STOCK = """
WITH product AS (
    SELECT p.id, p.safety_stock, coalesce(cs.quantity, 0) AS available
    FROM stock.products p LEFT JOIN stock.current_stock cs ON cs.product_id = p.id
    WHERE p.id = $3 AND p.store_id = $2 AND p.deleted_at IS NULL
), logged AS (
    INSERT INTO stock.inventory_transactions
        (id, store_id, product_id, type, quantity, delta, reason, occurred_at, created_at,
         synced_at, user_id)
    SELECT $1, $2, product.id, $4::stock.transaction_type, $5, $6, $7, $8, $9, $9, $10
    FROM product
    ON CONFLICT (id) DO NOTHING
    RETURNING *
), moved AS (
    UPDATE stock.current_stock s SET quantity = s.quantity + $6, updated_at = now()
    FROM logged WHERE s.product_id = logged.product_id AND (s.quantity + $6 >= 0 OR $11)
    RETURNING s.*
)
SELECT product.safety_stock, product.available, {logged}, {moved}
FROM product LEFT JOIN logged ON true LEFT JOIN moved ON true
"""

_LOGGED_COLUMNS = (
    "id", "store_id", "product_id", "type", "quantity", "delta", "reason", "occurred_at",
    "created_at", "synced_at", "device_id", "user_id",
)  # fmt: skip
_MOVED_COLUMNS = ("product_id", "store_id", "quantity", "updated_at")


def _prefixed(table: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f"{table}.{column} AS {table}_{column}" for column in columns)


_MOVE_STOCK = _MOVE_STOCK.format(
    logged=_prefixed("logged", _LOGGED_COLUMNS), moved=_prefixed("moved", _MOVED_COLUMNS)
)


@dataclass(frozen=True)
class Movement:
    id: uuid.UUID
    store_id: uuid.UUID
    product_id: uuid.UUID
    type: TransactionType
    quantity: int
    delta: int
    reason: str | None
    occurred_at: datetime
    created_at: datetime
    user_id: uuid.UUID


@dataclass(frozen=True)
class MoveOutcome:
    """What the one-statement move did: nothing (`logged` None: no such product, or the id
    was taken concurrently); appended but refused (`moved` None: not enough stock — the
    caller MUST then fail the transaction, which removes the appended row); or both.

    The append comes first on purpose: a concurrent insert of the same id then stops the
    stock update in the same statement, so stock never moves without its log row."""

    found: bool
    available: int
    safety_stock: int
    logged: InventoryTransaction | None
    moved: CurrentStock | None


async def move_stock(
    session: AsyncSession, movement: Movement, *, allow_negative: bool
) -> MoveOutcome:
    """Check the product, append the movement and move the stock in ONE statement (the hot
    path of the API: one round trip instead of four)."""
    raw = await transaction_connection(session)
    row = await raw.fetchrow(
        _MOVE_STOCK, movement.id, movement.store_id, movement.product_id, movement.type.value,
        movement.quantity, movement.delta, movement.reason, movement.occurred_at,
        movement.created_at, movement.user_id, allow_negative,
    )  # fmt: skip
    if row is None:
        return MoveOutcome(False, 0, 0, None, None)
    logged = None
    if row["logged_id"] is not None:
        logged = InventoryTransaction(**{c: row[f"logged_{c}"] for c in _LOGGED_COLUMNS})
    moved = None
    if row["moved_product_id"] is not None:
        moved = CurrentStock(**{c: row[f"moved_{c}"] for c in _MOVED_COLUMNS})
    return MoveOutcome(True, row["available"], row["safety_stock"], logged, moved)


async def stock_row(
    session: AsyncSession, store_id: uuid.UUID, product_id: uuid.UUID
) -> Row[CurrentStock, int] | None:
    stmt = (
        select(CurrentStock, Product.safety_stock)
        .join(Product, Product.id == CurrentStock.product_id)
        .where(
            CurrentStock.product_id == product_id,
            CurrentStock.store_id == store_id,
            Product.deleted_at.is_(None),
        )
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).one_or_none()


async def stock_page(
    session: AsyncSession, store_id: uuid.UUID, low_only: bool, request: PageRequest
) -> Page[Row[CurrentStock, int]]:
    stmt = (
        select(CurrentStock, Product.safety_stock)
        .join(Product, Product.id == CurrentStock.product_id)
        .where(CurrentStock.store_id == store_id, Product.deleted_at.is_(None))
    )
    if low_only:
        stmt = stmt.where(CurrentStock.quantity <= Product.safety_stock)
    return await paginate(session, stmt, request, keys=(CurrentStock.product_id,), item=as_fetched)


@dataclass(frozen=True)
class TransactionFilter:
    product_id: uuid.UUID | None = None
    type: TransactionType | None = None
    since: datetime | None = None
    until: datetime | None = None


async def transactions_page(
    session: AsyncSession,
    store_id: uuid.UUID,
    filters: TransactionFilter,
    request: PageRequest,
) -> Page[InventoryTransaction]:
    """Newest first, keyed on (occurred_at, id)."""
    stmt = transactions.select().where(InventoryTransaction.store_id == store_id)
    if filters.product_id is not None:
        stmt = stmt.where(InventoryTransaction.product_id == filters.product_id)
    if filters.type is not None:
        stmt = stmt.where(InventoryTransaction.type == filters.type)
    if filters.since is not None:
        stmt = stmt.where(InventoryTransaction.occurred_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(InventoryTransaction.occurred_at < filters.until)
    keys = (InventoryTransaction.occurred_at, InventoryTransaction.id)
    return await transactions.page(session, stmt, request, keys, descending=True)


async def stock_drift(
    session: AsyncSession,
) -> Sequence[tuple[uuid.UUID, uuid.UUID, int, int]]:
    """Products whose kept stock differs from the sum of their log (there must be none)."""
    logged = (
        select(
            InventoryTransaction.product_id.label("product_id"),
            func.sum(InventoryTransaction.delta).label("total"),
        )
        .group_by(InventoryTransaction.product_id)
        .subquery()
    )
    stmt = (
        select(
            Product.id,
            Product.store_id,
            func.coalesce(CurrentStock.quantity, 0),
            func.coalesce(logged.c.total, 0),
        )
        .outerjoin(CurrentStock, CurrentStock.product_id == Product.id)
        .outerjoin(logged, logged.c.product_id == Product.id)
        .where(func.coalesce(CurrentStock.quantity, 0) != func.coalesce(logged.c.total, 0))
    )
    rows: Sequence[tuple[uuid.UUID, uuid.UUID, int, int]] = (await session.execute(stmt)).all()
    return rows
