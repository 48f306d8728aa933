"""Stock inventory use cases: online stock movements, the log, current stock. Never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.stock import repository
from ensemble.apps.stock.auth import StoreAccess
from ensemble.apps.stock.domain import InvalidMovement, signed_delta
from ensemble.apps.stock.models import CurrentStock, InventoryTransaction
from ensemble.apps.stock.repository import Movement, TransactionFilter
from ensemble.apps.stock.schemas import TransactionCreate
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.pagination import Page, PageRequest

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
