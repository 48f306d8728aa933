"""Sync queries: the change feed and the offline batch's set-wise reads and writes. No rules."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.stock.domain import ChangePosition
from ensemble.apps.stock.models import (
    Category,
    ChangeTracked,
    CurrentStock,
    InventoryTransaction,
    Product,
)
from ensemble.kernel.db.raw import transaction_connection

# Change feed


async def safe_horizon(session: AsyncSession) -> int:
    """The oldest transaction id still running: every transaction below it has finished."""
    stmt = text("SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")
    return int((await session.execute(stmt)).scalar_one())


async def changed_since(
    session: AsyncSession,
    entity: type[ChangeTracked],
    store_id: uuid.UUID,
    after: ChangePosition,
    horizon: int,
    limit: int,
) -> Sequence[Any]:
    """Rows of `entity` in the store after `after`, from finished transactions only."""
    columns: Any = entity
    position = tuple_(columns.change_xid, columns.change_seq)
    stmt = (
        select(entity)
        .where(
            columns.store_id == store_id,
            position > tuple_(literal(after.xid, BigInteger), literal(after.seq, BigInteger)),
            columns.change_xid < horizon,
        )
        .order_by(columns.change_xid, columns.change_seq)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


# Offline sync


async def lock_products(session: AsyncSession, ids: Iterable[uuid.UUID]) -> Sequence[Product]:
    """The products with these ids, locked in id order (so two batches never deadlock)."""
    stmt = select(Product).where(Product.id.in_(sorted(ids))).order_by(Product.id)
    return (await session.scalars(stmt.with_for_update())).all()


async def fresh_product(session: AsyncSession, product_id: uuid.UUID) -> Product:
    """A product as stored now (another transaction may have just written it)."""
    product = await session.get(Product, product_id, populate_existing=True)
    assert product is not None
    return product


async def store_category_ids(
    session: AsyncSession, store_id: uuid.UUID, ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    stmt = select(Category.id).where(Category.id.in_(ids), Category.store_id == store_id)
    return set((await session.scalars(stmt)).all())


async def barcode_holders(
    session: AsyncSession, store_id: uuid.UUID, barcodes: set[str]
) -> dict[str, uuid.UUID]:
    """The live product holding each of these barcodes in the store."""
    stmt = select(Product.barcode, Product.id).where(
        Product.store_id == store_id, Product.deleted_at.is_(None), Product.barcode.in_(barcodes)
    )
    return dict((await session.execute(stmt)).all())


_UPSERT_COLUMNS = (
    "barcode", "name", "category_id", "unit_price", "safety_stock", "updated_at", "updated_by",
    "version_digest", "deleted_at", "synced_at",
)  # fmt: skip


async def upsert_products(session: AsyncSession, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert or overwrite products, only where the incoming version is newer (and the
    product is in the same store); new products get their stock row. The ids written."""
    if not rows:
        return set()
    upsert = insert(Product)
    newer = upsert.excluded
    stmt = upsert.on_conflict_do_update(
        index_elements=["id"],
        set_={name: getattr(newer, name) for name in _UPSERT_COLUMNS},
        where=(Product.store_id == newer.store_id)
        & (
            tuple_(Product.updated_at, Product.updated_by, Product.version_digest)
            < tuple_(newer.updated_at, newer.updated_by, newer.version_digest)
        ),
    ).returning(Product.id)
    written = set((await session.execute(stmt, rows)).scalars())
    stock_rows = [
        {"product_id": r["id"], "store_id": r["store_id"], "quantity": 0}
        for r in rows
        if r["id"] in written
    ]
    if stock_rows:
        await session.execute(
            insert(CurrentStock).on_conflict_do_nothing(index_elements=["product_id"]), stock_rows
        )
    return written


async def product_stores(
    session: AsyncSession, product_ids: set[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The store of each of these products."""
    stmt = select(Product.id, Product.store_id).where(Product.id.in_(product_ids))
    return dict((await session.execute(stmt)).all())


async def transactions_by_id(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, InventoryTransaction]:
    if not ids:
        return {}
    stmt = select(InventoryTransaction).where(InventoryTransaction.id.in_(set(ids)))
    return {t.id: t for t in (await session.scalars(stmt)).all()}


async def insert_new_transactions(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> set[uuid.UUID]:
    """Append the movements whose id is new; the ids appended."""
    stmt = (
        insert(InventoryTransaction)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(InventoryTransaction.id)
    )
    return set((await session.execute(stmt, rows)).scalars())


async def lock_stock(session: AsyncSession, product_ids: set[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The stock of these products, locked in product order."""
    stmt = (
        select(CurrentStock.product_id, CurrentStock.quantity)
        .where(CurrentStock.product_id.in_(sorted(product_ids)))
        .order_by(CurrentStock.product_id)
        .with_for_update()
    )
    return dict((await session.execute(stmt)).all())


_ADD_TO_STOCK = """
UPDATE stock.current_stock AS s SET quantity = s.quantity + v.delta, updated_at = now()
FROM unnest($1::uuid[], $2::bigint[]) AS v(product_id, delta)
WHERE s.product_id = v.product_id
"""


async def add_to_stock(session: AsyncSession, deltas: dict[uuid.UUID, int]) -> None:
    """Add each delta to its product's stock, in product order, in one statement."""
    ordered = sorted(deltas)
    raw = await transaction_connection(session)
    await raw.execute(_ADD_TO_STOCK, ordered, [deltas[p] for p in ordered])


async def stock_of(session: AsyncSession, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    stmt = select(CurrentStock.product_id, CurrentStock.quantity).where(
        CurrentStock.product_id.in_(product_ids)
    )
    return dict((await session.execute(stmt)).all())


async def safety_stock_of(
    session: AsyncSession, product_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    stmt = select(Product.id, Product.safety_stock).where(Product.id.in_(product_ids))
    return dict((await session.execute(stmt)).all())


# Snapshot bootstrap: plain SQL on a connection of its own, each row rendered as one JSON
# line by PostgreSQL (the shapes of `CategoryPublic`, `ProductPublic` and `StockPublic`, plus
# `kind`), so no row is ever decoded into Python objects on the way to the client.

_SNAPSHOT_SETTINGS = "SET LOCAL TimeZone = 'UTC'"  # timestamps rendered as `…+00:00`

_SNAPSHOT_QUERIES = (
    """
SELECT json_build_object(
    'kind', 'category', 'id', c.id, 'store_id', c.store_id, 'name', c.name,
    'created_at', c.created_at, 'updated_at', c.updated_at, 'deleted_at', c.deleted_at
)::text
FROM stock.categories c
WHERE c.store_id = $1 AND c.change_xid < $2
""",
    """
SELECT json_build_object(
    'kind', 'product', 'id', p.id, 'store_id', p.store_id, 'barcode', p.barcode,
    'name', p.name, 'category_id', p.category_id, 'unit_price', p.unit_price,
    'safety_stock', p.safety_stock, 'stock', coalesce(s.quantity, 0),
    'is_low', coalesce(s.quantity, 0) <= p.safety_stock, 'created_at', p.created_at,
    'updated_at', p.updated_at, 'deleted_at', p.deleted_at
)::text
FROM stock.products p LEFT JOIN stock.current_stock s ON s.product_id = p.id
WHERE p.store_id = $1 AND p.change_xid < $2
""",
    """
SELECT json_build_object(
    'kind', 'stock', 'product_id', s.product_id, 'store_id', s.store_id,
    'quantity', s.quantity, 'safety_stock', p.safety_stock,
    'is_low', s.quantity <= p.safety_stock, 'updated_at', s.updated_at
)::text
FROM stock.current_stock s JOIN stock.products p ON p.id = s.product_id
WHERE s.store_id = $1 AND s.change_xid < $2
""",
)


async def snapshot_horizon(connection: asyncpg.Connection[asyncpg.Record]) -> int:
    """The oldest transaction still running when the connection's snapshot was taken (the
    snapshot's xmin): in a REPEATABLE READ transaction, the same for every statement."""
    await connection.execute(_SNAPSHOT_SETTINGS)
    horizon = await connection.fetchval(
        "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"
    )
    return int(horizon)


async def snapshot_lines(
    connection: asyncpg.Connection[asyncpg.Record], store_id: uuid.UUID, horizon: int, batch: int
) -> AsyncIterator[tuple[bytes, int]]:
    """The store's categories, products and stock rows written below `horizon`, as NDJSON:
    batches of at most `batch` lines (each ending in a newline) and their line counts."""
    for query in _SNAPSHOT_QUERIES:
        cursor = await connection.cursor(query, store_id, horizon)
        while rows := await cursor.fetch(batch):
            lines = "\n".join([row[0] for row in rows])
            yield f"{lines}\n".encode(), len(rows)
