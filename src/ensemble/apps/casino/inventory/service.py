"""Inventory use cases: grant, take and list a member's items (shards are an item). The
callers (gacha, rewards, shop) own the idempotency of what they grant. Never commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import asyncpg
from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.models import InventoryEntry, Item
from ensemble.kernel.db import utcnow
from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.errors import Conflict, NotFound


class NotEnoughItems(Conflict):
    code = "not_enough_items"
    message = "You do not hold enough of this item."


_UNKNOWN_ITEM = "fk_inventory_item_id_items"
"""The foreign key that refuses an item the catalogue lacks."""


class ItemNotFound(NotFound):
    code = "item_not_found"
    message = "The item does not exist."


_GRANT = """
INSERT INTO casino.inventory AS held (user_id, item_id, quantity, acquired_at, updated_at)
SELECT $1, item_id, quantity, $4, $4 FROM unnest($2::varchar[], $3::int[]) AS g(item_id, quantity)
ON CONFLICT (user_id, item_id) DO UPDATE
SET quantity = held.quantity + EXCLUDED.quantity, updated_at = EXCLUDED.updated_at
"""


async def grant(session: AsyncSession, user_id: uuid.UUID, quantities: Mapping[str, int]) -> None:
    """Add `quantities` (item id → count > 0) to a member's inventory, in one statement that
    adds to what concurrent grants added (404 `item_not_found` for an item the catalogue
    lacks: the foreign key refuses it, and the caller's transaction is then lost)."""
    if not quantities:
        return
    if any(count <= 0 for count in quantities.values()):
        raise ValueError("a grant adds at least one of each item")
    items = sorted(quantities)
    connection = await transaction_connection(session)
    try:
        await connection.execute(
            _GRANT, user_id, items, [quantities[item] for item in items], utcnow()
        )
    except asyncpg.ForeignKeyViolationError as exc:
        if exc.constraint_name != _UNKNOWN_ITEM:
            raise
        raise ItemNotFound(details={"item_ids": items}) from exc


async def take(session: AsyncSession, user_id: uuid.UUID, item_id: str, quantity: int = 1) -> int:
    """Use up `quantity` of an item; what is left (409 `not_enough_items` if the member holds
    fewer). One conditional UPDATE: two concurrent takes of the last one cannot both win."""
    if quantity <= 0:
        raise ValueError("a take uses at least one")
    left: int | None = await session.scalar(
        update(InventoryEntry)
        .where(
            InventoryEntry.user_id == user_id,
            InventoryEntry.item_id == item_id,
            InventoryEntry.quantity >= quantity,
        )
        .values(quantity=InventoryEntry.quantity - quantity, updated_at=utcnow())
        .returning(InventoryEntry.quantity)
    )
    if left is None:
        raise NotEnoughItems(details={"item_id": item_id, "needed": quantity})
    if left == 0:
        await session.execute(
            delete(InventoryEntry).where(
                InventoryEntry.user_id == user_id,
                InventoryEntry.item_id == item_id,
                InventoryEntry.quantity == 0,
            )
        )
    return left


async def owned(session: AsyncSession, user_id: uuid.UUID, item_ids: Sequence[str]) -> set[str]:
    """Which of `item_ids` the member holds at least one of."""
    held = await (await transaction_connection(session)).fetch(
        "SELECT item_id FROM casino.inventory WHERE user_id = $1 AND item_id = ANY($2::varchar[])",
        user_id,
        list(item_ids),
    )
    return {row["item_id"] for row in held}


async def quantity(session: AsyncSession, user_id: uuid.UUID, item_id: str) -> int:
    """How many of an item the member holds (0 for none)."""
    held = await session.scalar(
        select(InventoryEntry.quantity).where(
            InventoryEntry.user_id == user_id, InventoryEntry.item_id == item_id
        )
    )
    return held or 0


async def inventory(
    session: AsyncSession, user_id: uuid.UUID
) -> Sequence[Row[InventoryEntry, Item]]:
    """Everything a member holds with its catalogue entry, rarest and newest first. Bounded
    by the catalogue, so one answer, not pages."""
    rows = await session.execute(
        select(InventoryEntry, Item)
        .join(Item, Item.item_id == InventoryEntry.item_id)
        .where(InventoryEntry.user_id == user_id)
        .order_by(
            Item.kind, Item.tier.nulls_last(), InventoryEntry.acquired_at.desc(), Item.item_id
        )
    )
    return rows.all()
