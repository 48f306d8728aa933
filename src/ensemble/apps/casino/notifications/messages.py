"""The messages other parts send through `notify`: rewards, the wallet (shop purchases and
refunds) and achievements. Each is one call at the point where the change is written, in
its transaction (a rolled-back change says nothing)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.domain import NotificationCategory
from ensemble.apps.casino.notifications.service import notify

if TYPE_CHECKING:
    from ensemble.apps.casino.achievements.domain import Achievement
    from ensemble.apps.casino.rewards.models import Reward
    from ensemble.apps.casino.shop.models import Purchase


def _what(amounts: Mapping[str, int], items: Mapping[str, int]) -> str:
    parts = [f"{amount} {currency}" for currency, amount in amounts.items() if amount]
    parts += [f"{count} × {item}" for item, count in items.items() if count]
    return ", ".join(parts) or "nothing"


async def reward_granted(session: AsyncSession, reward: Reward) -> None:
    content: dict[str, Any] = (
        {"item_id": reward.item_id, "quantity": reward.quantity}
        if reward.item_id is not None
        else {"amount": reward.amount}
    )
    what = (
        _what({}, {reward.item_id: reward.quantity or 0})
        if reward.item_id is not None
        else _what({reward.kind.value: reward.amount or 0}, {})
    )
    await notify(
        session,
        reward.user_id,
        NotificationCategory.REWARD,
        f"Reward: {what}",
        body=reward.reason,
        data={"reward_id": str(reward.id), "kind": reward.kind.value, **content},
    )


async def purchase_fulfilled(session: AsyncSession, purchase: Purchase) -> None:
    granted = purchase.granted
    await notify(
        session,
        purchase.user_id,
        NotificationCategory.WALLET,
        f"Purchase complete: {_what(granted.currencies(), granted.items)}",
        data={"purchase_id": str(purchase.id), "product_id": purchase.product_id},
    )


async def purchase_refunded(session: AsyncSession, purchase: Purchase) -> None:
    granted = purchase.granted
    await notify(
        session,
        purchase.user_id,
        NotificationCategory.WALLET,
        f"Purchase refunded: {_what(granted.currencies(), granted.items)} taken back",
        data={
            "purchase_id": str(purchase.id),
            "product_id": purchase.product_id,
            "debt": dict(purchase.refund_debt or {}),
        },
    )


async def achievement_unlocked(
    session: AsyncSession, user_id: uuid.UUID, entry: Achievement
) -> None:
    await notify(
        session,
        user_id,
        NotificationCategory.ACHIEVEMENT,
        f"Achievement unlocked: {entry.name}",
        body=entry.description,
        data={"key": entry.key, "reward_coins": entry.reward_coins},
    )
