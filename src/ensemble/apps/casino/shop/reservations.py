"""What a purchase holds until it is paid or given up: a promo code's use, a limited
product's stock and the member's count towards the product's limit, each taken by one
conditional statement (so N racing buyers never overshoot), and all given back by `release`
when the purchase will never be paid. Never commit."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.shop import repository
from ensemble.apps.casino.shop.domain import Contents, PromoRefusal, bonus_problem, promo_refusal
from ensemble.apps.casino.shop.models import (
    MemberPurchases,
    Product,
    PromoCode,
    PromoRedemption,
    Purchase,
)
from ensemble.kernel.errors import Conflict


class SoldOut(Conflict):
    code = "sold_out"
    message = "The product is sold out."


class LimitReached(Conflict):
    code = "purchase_limit_reached"
    message = "You have bought as many of this product as a member may."


class PromoRefused(Conflict):
    """409 `promo_<reason>`: the code cannot be used (see `PromoRefusal`)."""

    def __init__(self, reason: PromoRefusal, code: str) -> None:
        super().__init__(
            f"The promo code cannot be used: {reason.value}.",
            code=f"promo_{reason.value}",
            details={"promo_code": code, "reason": reason.value},
        )


async def usable_promo(
    session: AsyncSession, code: str | None, product: Product, now: datetime
) -> PromoCode | None:
    """The promo code, if it may apply to `product` now (409 `promo_<reason>` otherwise).
    Its uses are spent later, by `redeem`, in one conditional statement."""
    if code is None:
        return None
    promo = await session.get(PromoCode, code)
    if promo is None:
        raise PromoRefused(PromoRefusal.UNKNOWN, code)
    refusal = promo_refusal(
        is_active=promo.is_active,
        uses=promo.uses,
        max_uses=promo.max_uses,
        expires_at=promo.expires_at,
        now=now,
    )
    if refusal is None and (
        (promo.product_id is not None and promo.product_id != product.product_id)
        or bonus_problem(Contents.of(promo.bonus), product.price_currency)
    ):
        refusal = PromoRefusal.NOT_APPLICABLE
    if refusal is not None:
        raise PromoRefused(refusal, code)
    return promo


async def redeem(
    session: AsyncSession, promo: PromoCode, purchase: Purchase, now: datetime
) -> None:
    """Spend one use of a promo code for the purchase's member: once per member (the
    redemption's key), `max_uses` in all (of N racing for the last use, one matches)."""
    redeemed = await session.scalar(
        insert(PromoRedemption)
        .values(code=promo.code, user_id=purchase.user_id, purchase_id=purchase.id)
        .on_conflict_do_nothing()
        .returning(PromoRedemption.code)
    )
    if redeemed is None:
        raise PromoRefused(PromoRefusal.ALREADY_REDEEMED, promo.code)
    spent = await session.scalar(
        update(PromoCode)
        .where(
            PromoCode.code == promo.code,
            PromoCode.is_active.is_(True),
            (PromoCode.max_uses.is_(None)) | (PromoCode.uses < PromoCode.max_uses),
            (PromoCode.expires_at.is_(None)) | (PromoCode.expires_at > now),
        )
        .values(uses=PromoCode.uses + 1)
        .returning(PromoCode.code)
        .execution_options(synchronize_session=False)
    )
    if spent is None:
        raise PromoRefused(PromoRefusal.USED_UP, promo.code)


async def reserve_stock(
    session: AsyncSession, product: Product, quantity: int, now: datetime
) -> None:
    """Take `quantity` from a limited product's stock, if it is still on sale and has that
    many left (409 `sold_out`): one conditional UPDATE, so N buyers never oversell."""
    if product.stock_total is None:
        return
    sold = await session.scalar(
        update(Product)
        .where(
            Product.product_id == product.product_id,
            repository.on_sale(now),
            Product.stock_sold + quantity <= Product.stock_total,
        )
        .values(stock_sold=Product.stock_sold + quantity)
        .returning(Product.stock_sold)
        .execution_options(synchronize_session=False)
    )
    if sold is None:
        raise SoldOut(details={"product_id": product.product_id})


async def reserve_member_limit(
    session: AsyncSession, user_id: uuid.UUID, product: Product, quantity: int
) -> None:
    """Count `quantity` towards the member's limit of the product (409
    `purchase_limit_reached`): one upsert that adds only while within the limit."""
    limit = product.per_member_limit
    if limit is None:
        return
    if quantity > limit:
        raise LimitReached(details={"product_id": product.product_id, "limit": limit})
    statement = insert(MemberPurchases).values(
        user_id=user_id, product_id=product.product_id, bought=quantity
    )
    counted = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=[MemberPurchases.user_id, MemberPurchases.product_id],
            set_={"bought": MemberPurchases.bought + statement.excluded.bought},
            where=MemberPurchases.bought + statement.excluded.bought <= limit,
        ).returning(MemberPurchases.bought)
    )
    if counted is None:
        raise LimitReached(details={"product_id": product.product_id, "limit": limit})


async def release(session: AsyncSession, purchase: Purchase) -> None:
    """Give back what a purchase that will never be paid reserved: its stock, its count
    towards the member's limit, its promo code's use."""
    quantity, product_id = purchase.quantity, purchase.product_id
    await session.execute(
        update(Product)
        .where(
            Product.product_id == product_id,
            Product.stock_total.is_not(None),
            Product.stock_sold >= quantity,
        )
        .values(stock_sold=Product.stock_sold - quantity)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(MemberPurchases)
        .where(
            MemberPurchases.user_id == purchase.user_id,
            MemberPurchases.product_id == product_id,
            MemberPurchases.bought >= quantity,
        )
        .values(bought=MemberPurchases.bought - quantity)
    )
    released = await session.scalar(
        delete(PromoRedemption)
        .where(PromoRedemption.purchase_id == purchase.id)
        .returning(PromoRedemption.code)
    )
    if released is not None:
        await session.execute(
            update(PromoCode)
            .where(PromoCode.code == released, PromoCode.uses > 0)
            .values(uses=PromoCode.uses - 1)
            .execution_options(synchronize_session=False)
        )
