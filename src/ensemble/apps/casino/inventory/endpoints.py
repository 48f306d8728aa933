"""`GET /api/inventory`: the caller's items and shards."""

from __future__ import annotations

from fastapi import APIRouter

from ensemble.apps.casino.auth import CurrentUser
from ensemble.apps.casino.domain import SHARDS
from ensemble.apps.casino.inventory import service as inventory
from ensemble.apps.casino.schemas import PREFIX, USER, InventoryItem, InventoryPublic, errors
from ensemble.kernel.db import SessionDep
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=PREFIX, tags=["inventory"])


@router.get("/inventory", responses=errors(*USER))
async def my_inventory(user: CurrentUser, session: SessionDep) -> InventoryPublic:
    """Your items (with their catalogue entries) and your shards."""
    rows = await inventory.inventory(session, user.account_id)
    items = [
        InventoryItem.model_validate(
            Extended(item, quantity=entry.quantity, acquired_at=entry.acquired_at)
        )
        for entry, item in rows
        if item.item_id != SHARDS
    ]
    shards = next((entry.quantity for entry, item in rows if item.item_id == SHARDS), 0)
    return InventoryPublic(items=items, shards=shards)
