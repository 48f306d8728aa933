"""Sync queries: the change feed and the offline batch's set-wise reads and writes. No rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

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
