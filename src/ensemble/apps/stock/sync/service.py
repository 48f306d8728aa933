"""Offline batch sync (`POST /sync`), the gap-free change feed (`GET /sync/changes`) and the
snapshot a new device bootstraps from (`GET /sync/snapshot`).

A batch is applied set-wise in a handful of statements whatever its size: products first
(last-write-wins, see `domain.ProductVersion`), then transactions in `occurred_at` order.
Every record gets a verdict: applied, duplicate, superseded or rejected with a reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ensemble.apps.stock.auth import StoreAccess
from ensemble.apps.stock.domain import (
    ChangePosition,
    InvalidMovement,
    ProductVersion,
    product_digest,
    signed_delta,
)
from ensemble.apps.stock.models import (
    Category,
    ChangeTracked,
    CurrentStock,
    InventoryTransaction,
    Product,
)
from ensemble.apps.stock.schemas import (
    SyncProduct,
    SyncRequest,
    SyncResult,
    SyncTransaction,
    product_public,
)
from ensemble.apps.stock.sync import repository
from ensemble.kernel.db import utcnow
from ensemble.kernel.db.raw import own_connection

# Products


def _version(record: SyncProduct, device_id: str) -> ProductVersion:
    content = {
        "barcode": record.barcode,
        "name": record.name,
        "category_id": record.category_id,
        "unit_price": record.unit_price,
        "safety_stock": record.safety_stock,
        "deleted": record.deleted,
    }
    return ProductVersion(record.updated_at, device_id, product_digest(content))


def _stored_version(product: Product) -> ProductVersion:
    return ProductVersion(product.updated_at, product.updated_by, product.version_digest)


@dataclass
class _ProductBatch:
    access: StoreAccess
    device_id: str
    now: datetime
    verdicts: dict[int, SyncResult] = field(default_factory=dict)
    winners: dict[uuid.UUID, tuple[int, SyncProduct, ProductVersion]] = field(default_factory=dict)

    def verdict(self, index: int, record: SyncProduct, status: str, **extra: Any) -> None:
        self.verdicts[index] = SyncResult(entity="product", id=record.id, status=status, **extra)


def _newest_per_id(batch: _ProductBatch, records: Sequence[SyncProduct]) -> None:
    """Keep the newest version of each product id; older copies in the batch are superseded."""
    for index, record in enumerate(records):
        version = _version(record, batch.device_id)
        current = batch.winners.get(record.id)
        if current is None or version > current[2]:
            if current is not None:
                batch.verdict(current[0], current[1], "superseded", reason="newer_in_batch")
            batch.winners[record.id] = (index, record, version)
        else:
            status = "duplicate" if version == current[2] else "superseded"
            batch.verdict(
                index, record, status, reason=None if status == "duplicate" else "newer_in_batch"
            )


async def _against_stored(session: AsyncSession, batch: _ProductBatch) -> None:
    """Drop winners that lose to the server's copy, or belong to another store."""
    stored = await repository.lock_products(session, batch.winners)
    newer_on_server: list[tuple[int, Product]] = []
    for product in stored:
        index, record, version = batch.winners[product.id]
        if product.store_id != batch.access.store_id:
            batch.verdict(index, record, "rejected", reason="wrong_store")
        elif version == _stored_version(product):
            batch.verdict(index, record, "duplicate", server_updated_at=product.synced_at)
        elif version < _stored_version(product):
            batch.verdict(index, record, "superseded", server_updated_at=product.synced_at)
            newer_on_server.append((index, product))
        else:
            continue
        del batch.winners[product.id]
    await _attach_server_copies(session, batch, newer_on_server)


async def _attach_server_copies(
    session: AsyncSession, batch: _ProductBatch, copies: list[tuple[int, Product]]
) -> None:
    """Give each superseded verdict the server's copy (stock read in one query)."""
    stock = await repository.stock_of(session, [product.id for _, product in copies])
    for index, product in copies:
        batch.verdicts[index].product = product_public(product, stock.get(product.id, 0))


async def _check_references(session: AsyncSession, batch: _ProductBatch) -> None:
    """Reject winners naming an unknown category or a barcode another live product holds."""
    store_id = batch.access.store_id
    category_ids = {r.category_id for _, r, _ in batch.winners.values() if r.category_id}
    known = await repository.store_category_ids(session, store_id, category_ids)
    live = [(i, r) for i, r, _ in batch.winners.values() if not r.deleted]
    holders = await repository.barcode_holders(session, store_id, {r.barcode for _, r in live})
    for index, record in sorted(live, key=lambda item: _version(item[1], batch.device_id)):
        if record.category_id is not None and record.category_id not in known:
            reason = "unknown_category"
        elif holders.setdefault(record.barcode, record.id) != record.id:
            reason = "barcode_conflict"
        else:
            continue
        batch.verdict(index, record, "rejected", reason=reason)
        del batch.winners[record.id]


def _product_row(
    batch: _ProductBatch, record: SyncProduct, version: ProductVersion
) -> dict[str, Any]:
    return {
        "id": record.id,
        "store_id": batch.access.store_id,
        "barcode": record.barcode,
        "name": record.name,
        "category_id": record.category_id,
        "unit_price": record.unit_price,
        "safety_stock": record.safety_stock,
        "created_at": batch.now,
        "updated_at": record.updated_at,
        "updated_by": batch.device_id,
        "version_digest": version.digest,
        "deleted_at": record.updated_at if record.deleted else None,
        "synced_at": batch.now,
    }


async def _write_winners(session: AsyncSession, batch: _ProductBatch) -> None:
    """Write all winners at once; if a concurrent batch took a barcode, retry one by one."""
    rows = {  # in id order, so two batches touching the same new ids never deadlock
        pid: _product_row(batch, record, version)
        for pid, (_, record, version) in sorted(batch.winners.items())
    }
    try:
        async with session.begin_nested():
            written = await repository.upsert_products(session, list(rows.values()))
    except IntegrityError:
        written = set()
        for pid, row in rows.items():
            try:
                async with session.begin_nested():
                    written |= await repository.upsert_products(session, [row])
            except IntegrityError:
                index, record, _ = batch.winners[pid]
                batch.verdict(index, record, "rejected", reason="barcode_conflict")
    for pid, (index, record, _) in batch.winners.items():
        if index in batch.verdicts:
            continue
        if pid in written:
            batch.verdict(index, record, "applied", server_updated_at=batch.now)
            continue
        # a concurrent batch wrote a newer version (or, in another store, this very id)
        # between our read and our write
        winner = await repository.fresh_product(session, pid)
        if winner.store_id != batch.access.store_id:
            batch.verdict(index, record, "rejected", reason="wrong_store")
            continue
        batch.verdict(index, record, "superseded", server_updated_at=winner.synced_at)
        await _attach_server_copies(session, batch, [(index, winner)])


async def apply_products(
    session: AsyncSession,
    access: StoreAccess,
    device_id: str,
    records: Sequence[SyncProduct],
    now: datetime,
) -> list[SyncResult]:
    batch = _ProductBatch(access=access, device_id=device_id, now=now)
    _newest_per_id(batch, records)
    await _against_stored(session, batch)
    await _check_references(session, batch)
    await _write_winners(session, batch)
    return [batch.verdicts[i] for i in range(len(records))]


# Transactions


@dataclass
class _Movement:
    index: int
    record: SyncTransaction
    delta: int


def _transaction_verdict(record: SyncTransaction, status: str, **extra: Any) -> SyncResult:
    return SyncResult(entity="transaction", id=record.id, status=status, **extra)


def _same_content(
    stored: InventoryTransaction | SyncTransaction, record: SyncTransaction, store_id: uuid.UUID
) -> bool:
    stored_store = getattr(stored, "store_id", store_id)
    return (stored_store, stored.product_id, stored.type, stored.quantity) == (
        store_id,
        record.product_id,
        record.type,
        record.quantity,
    )


async def _classify_movements(
    session: AsyncSession,
    store_id: uuid.UUID,
    records: Sequence[SyncTransaction],
    verdicts: dict[int, SyncResult],
) -> list[_Movement]:
    """Valid, new, known-product movements in `occurred_at` order; verdicts for the rest."""
    stored = await repository.transactions_by_id(session, [r.id for r in records])
    owners = await repository.product_stores(session, {r.product_id for r in records})
    seen: dict[uuid.UUID, SyncTransaction] = {}
    movements: list[_Movement] = []
    order = sorted(range(len(records)), key=lambda i: (records[i].occurred_at, records[i].id))
    for index in order:
        record = records[index]
        earlier = stored.get(record.id) or seen.get(record.id)
        if earlier is not None:
            same = _same_content(earlier, record, store_id)
            verdicts[index] = _transaction_verdict(
                record, "duplicate" if same else "rejected", reason=None if same else "id_conflict"
            )
            continue
        seen[record.id] = record
        reason = _invalid_reason(record, owners.get(record.product_id), store_id)
        if reason is not None:
            verdicts[index] = _transaction_verdict(record, "rejected", reason=reason)
            continue
        movements.append(_Movement(index, record, signed_delta(record.type, record.quantity)))
    return movements


def _invalid_reason(
    record: SyncTransaction, owner: uuid.UUID | None, store_id: uuid.UUID
) -> str | None:
    if owner is None:
        return "unknown_product"
    if owner != store_id:
        return "wrong_store"
    try:
        signed_delta(record.type, record.quantity)
    except InvalidMovement as exc:
        return str(exc)
    return None


async def apply_transactions(
    session: AsyncSession,
    access: StoreAccess,
    device_id: str,
    records: Sequence[SyncTransaction],
    now: datetime,
) -> list[SyncResult]:
    store_id = access.store_id
    verdicts: dict[int, SyncResult] = {}
    movements = await _classify_movements(session, store_id, records, verdicts)
    running = await repository.lock_stock(session, {m.record.product_id for m in movements})
    rows = []
    for movement in movements:
        record = movement.record
        running[record.product_id] = running.get(record.product_id, 0) + movement.delta
        negative = movement.delta < 0 and running[record.product_id] < 0
        verdicts[movement.index] = _transaction_verdict(
            record, "applied", reason="negative_stock" if negative else None, server_updated_at=now
        )
        rows.append(
            {
                "id": record.id,
                "store_id": store_id,
                "product_id": record.product_id,
                "type": record.type,
                "quantity": record.quantity,
                "delta": movement.delta,
                "reason": record.reason,
                "occurred_at": record.occurred_at,
                "created_at": record.created_at,
                "synced_at": now,
                "device_id": device_id,
                "user_id": access.principal.account_id,
            }
        )
    await _insert_movements(session, rows, movements, verdicts)
    return [verdicts[i] for i in range(len(records))]


async def _insert_movements(
    session: AsyncSession,
    rows: list[dict[str, Any]],
    movements: list[_Movement],
    verdicts: dict[int, SyncResult],
) -> None:
    """Append the movements and add their deltas to stock. An id a concurrent batch wrote
    first moves nothing: `duplicate` if it holds the same movement, else `id_conflict`."""
    if not rows:
        return
    inserted = await repository.insert_new_transactions(session, rows)
    raced = [m for m in movements if m.record.id not in inserted]
    winners = await repository.transactions_by_id(session, [m.record.id for m in raced])
    for movement in raced:
        same = _same_content(winners[movement.record.id], movement.record, rows[0]["store_id"])
        verdicts[movement.index] = _transaction_verdict(
            movement.record,
            "duplicate" if same else "rejected",
            reason=None if same else "id_conflict",
        )
    totals: dict[uuid.UUID, int] = {}
    for movement in movements:
        if movement.record.id in inserted:
            totals[movement.record.product_id] = (
                totals.get(movement.record.product_id, 0) + movement.delta
            )
    await repository.add_to_stock(session, totals)


# The batch


async def apply_batch(
    session: AsyncSession, access: StoreAccess, batch: SyncRequest
) -> list[SyncResult]:
    now = utcnow()
    products = await apply_products(session, access, batch.device_id, batch.products, now)
    transactions = await apply_transactions(
        session, access, batch.device_id, batch.transactions, now
    )
    return products + transactions


# The change feed


@dataclass(frozen=True)
class Changes:
    categories: list[Category]
    products: list[tuple[Product, int]]
    transactions: list[InventoryTransaction]
    stock: list[tuple[CurrentStock, int]]
    cursor: ChangePosition
    has_more: bool


_FEED: tuple[type[ChangeTracked], ...] = (Category, Product, InventoryTransaction, CurrentStock)


def _position(row: Any) -> ChangePosition:
    return ChangePosition(row.change_xid, row.change_seq)


async def changes_since(
    session: AsyncSession, store_id: uuid.UUID, cursor: ChangePosition, limit: int
) -> Changes:
    """Everything that changed in the store after `cursor`, oldest first, at most `limit` rows.

    Only rows of finished transactions are served (see `domain.ChangePosition`), so a
    transaction that commits late can never land behind a cursor a client already holds.
    """
    horizon = await repository.safe_horizon(session)
    fetched: list[Any] = []
    for entity in _FEED:  # one row beyond the page, so `has_more` holds even for one kind
        fetched.extend(
            await repository.changed_since(session, entity, store_id, cursor, horizon, limit + 1)
        )
    fetched.sort(key=_position)
    page = fetched[:limit]
    products = [row for row in page if isinstance(row, Product)]
    stocks = [row for row in page if isinstance(row, CurrentStock)]
    stock_of = await repository.stock_of(session, [p.id for p in products])
    safety_of = await repository.safety_stock_of(session, [s.product_id for s in stocks])
    return Changes(
        categories=[row for row in page if isinstance(row, Category)],
        products=[(p, stock_of.get(p.id, 0)) for p in products],
        transactions=[row for row in page if isinstance(row, InventoryTransaction)],
        stock=[(s, safety_of.get(s.product_id, 0)) for s in stocks],
        cursor=_position(page[-1]) if page else cursor,
        has_more=len(fetched) > limit,
    )


# The snapshot bootstrap

SNAPSHOT_BATCH = 2000
"""Rows fetched (and sent) at a time: about 600 kB of JSON, a few ms of gzip."""


def snapshot_end(cursor: ChangePosition, rows: int) -> bytes:
    """The last line of a snapshot: where the change feed takes over, and the row count (a
    body without it was cut off)."""
    end = {"kind": "end", "cursor": cursor.encode(), "rows": rows}
    return json.dumps(end, separators=(",", ":")).encode() + b"\n"


async def snapshot(engine: AsyncEngine, store_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The store's categories, products and stock as NDJSON, read in one snapshot, then the
    change-feed cursor to pull from (see `docs/decisions/0023-snapshot-bootstrap.md`).

    The snapshot's horizon is its xmin: every transaction below it had finished when the
    snapshot was taken, every one at or above it is served by the feed from
    `ChangePosition(horizon, 0)`. So the snapshot sends exactly the rows whose position lies
    below that cursor (rows written at or above it are left to the feed, even when the
    snapshot sees them): no change is skipped or sent twice at the seam.
    """
    rows = 0
    async with (
        own_connection(engine) as connection,
        connection.transaction(isolation="repeatable_read", readonly=True),
    ):
        horizon = await repository.snapshot_horizon(connection)
        async for lines, count in repository.snapshot_lines(
            connection, store_id, horizon, SNAPSHOT_BATCH
        ):
            rows += count
            yield lines
    yield snapshot_end(ChangePosition(horizon, 0), rows)
