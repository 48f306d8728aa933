"""Inventory use cases: grant, take and list a member's items (shards are an item). The
callers (gacha, rewards, shop) own the idempotency of what they grant. Never commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import Row, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.models import InventoryEntry, Item
from ensemble.kernel.db import utcnow
from ensemble.kernel.errors import Conflict, NotFound


class NotEnoughItems(Conflict):
    code = "not_enough_items"
    message = "You do not hold enough of this item."


_UNKNOWN_ITEM = "fk_inventory_item_id_items"
"""The foreign key that refuses an item the catalogue lacks."""


class ItemNotFound(NotFound):
    code = "item_not_found"
    message = "The item does not exist."


async def grant(session: AsyncSession, user_id: uuid.UUID, quantities: Mapping[str, int]) -> None:
    """Add `quantities` (item id → count > 0) to a member's inventory, in one statement that
    adds to what concurrent grants added (404 `item_not_found` for an item the catalogue
    lacks: the foreign key refuses it, and the caller's transaction is then lost)."""
    if not quantities:
        return
    if any(count <= 0 for count in quantities.values()):
        raise ValueError("a grant adds at least one of each item")
    now = utcnow()
    rows = [
        {
            "user_id": user_id,
            "item_id": item,
            "quantity": count,
            "acquired_at": now,
            "updated_at": now,
        }
        for item, count in sorted(quantities.items())
    ]
    statement = insert(InventoryEntry).values(rows)
    try:
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[InventoryEntry.user_id, InventoryEntry.item_id],
                set_={
                    "quantity": InventoryEntry.quantity + statement.excluded.quantity,
                    "updated_at": now,
                },
            )
        )
    except IntegrityError as exc:
        if _UNKNOWN_ITEM not in str(exc.orig):
            raise
        raise ItemNotFound(details={"item_ids": sorted(quantities)}) from exc


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
    held = await session.scalars(
        select(InventoryEntry.item_id).where(
            InventoryEntry.user_id == user_id, InventoryEntry.item_id.in_(item_ids)
        )
    )
    return set(held)


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
