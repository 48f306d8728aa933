"""Shop use cases: the catalogue, buying (from the ledger at once, or with money through the
payment port), payment webhooks, the sweep of stuck payments, debts and receipts (the admin's
products, promo codes and refunds are `admin.service`'s). Never commit.

Every limit holds under concurrency through one conditional statement each: the stock
(`UPDATE products … WHERE stock_sold + n <= stock_total RETURNING`), the per-member limit
(an upsert `… WHERE bought + n <= limit`), a promo code's uses (`UPDATE … WHERE uses <
max_uses`) and its one use per member (the redemption's primary key). A refusal raises, so
the request's transaction writes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.auth import REALM
from ensemble.apps.casino.domain import GEMS
from ensemble.apps.casino.events import AGGREGATE_PURCHASE, PurchaseFulfilled
from ensemble.apps.casino.inventory import service as inventory
from ensemble.apps.casino.limits import service as responsible_play
from ensemble.apps.casino.notifications import messages
from ensemble.apps.casino.shop import repository
from ensemble.apps.casino.shop.domain import (
    Contents,
    PromoRefusal,
    PurchaseStatus,
    ShopReason,
    bonus_problem,
    can_move,
    is_money,
    ledger_key,
    promo_refusal,
    total_price,
)
from ensemble.apps.casino.shop.models import (
    Debt,
    MemberPurchases,
    Product,
    PromoCode,
    PromoRedemption,
    Purchase,
)
from ensemble.apps.casino.shop.payments import PaymentPort, PaymentStatus, payment_port
from ensemble.apps.casino.shop.schemas import PaymentEvent
from ensemble.apps.casino.vip import service as vip
from ensemble.kernel.db import new_id
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.events import Envelope, publish
from ensemble.kernel.ledger import service as ledger
from ensemble.kernel.ledger.domain import AccountOwner
from ensemble.kernel.ledger.errors import InsufficientBalance
from ensemble.kernel.ledger.models import Direction
from ensemble.kernel.pagination import Page, PageRequest
from ensemble.kernel.schemas import Extended

REFERENCE_TYPE = "casino.purchase"


class ProductNotFound(NotFound):
    code = "product_not_found"
    message = "The product does not exist or is not on sale."


class ProductExists(Conflict):
    code = "product_exists"
    message = "A product with this id exists."


class InvalidProduct(InvalidInput):
    code = "invalid_product"
    message = "The product breaks a shop rule."


class SoldOut(Conflict):
    code = "sold_out"
    message = "The product is sold out."


class LimitReached(Conflict):
    code = "purchase_limit_reached"
    message = "You have bought as many of this product as a member may."


class InsufficientFunds(Conflict):
    code = "insufficient_funds"
    message = "Your balance does not cover the price."


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This idempotency key was used for another purchase."


class PromoRefused(Conflict):
    """409 `promo_<reason>`: the code cannot be used (see `PromoRefusal`)."""

    def __init__(self, reason: PromoRefusal, code: str) -> None:
        super().__init__(
            f"The promo code cannot be used: {reason.value}.",
            code=f"promo_{reason.value}",
            details={"promo_code": code, "reason": reason.value},
        )


class PromoExists(Conflict):
    code = "promo_exists"
    message = "A promo code with this code exists."


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"
    message = "The purchase does not exist."


class PaymentMismatch(Conflict):
    """The provider's payment is not the purchase's: the purchase failed (kept)."""

    code = "payment_mismatch"
    message = "The payment does not match the purchase; the purchase has failed."
    keeps_changes = True


class AlreadyRefunded(Conflict):
    code = "already_refunded"
    message = "The purchase is refunded already."


class NotRefundable(Conflict):
    code = "purchase_not_refundable"
    message = "Only a fulfilled money purchase can be refunded."


class IllegalTransition(Conflict):
    code = "purchase_state_conflict"
    message = "The purchase cannot move to that status."


def _owner(user_id: uuid.UUID, currency: str) -> AccountOwner:
    return AccountOwner(realm=REALM, owner_id=user_id, currency=currency)


def move(purchase: Purchase, target: PurchaseStatus, now: datetime) -> None:
    """Move a purchase along the state machine (409 `purchase_state_conflict` otherwise)."""
    if not can_move(purchase.status, target):
        raise IllegalTransition(details={"status": purchase.status.value, "target": target.value})
    purchase.status = target
    stamp = {
        PurchaseStatus.PAID: "paid_at",
        PurchaseStatus.FULFILLED: "fulfilled_at",
        PurchaseStatus.REFUNDED: "refunded_at",
    }.get(target)
    if stamp is not None:
        setattr(purchase, stamp, now)


# catalogue


@dataclass(frozen=True)
class Offer:
    """A product as one member sees it at one time."""

    product: Product
    price: int
    on_sale: bool
    remaining_limit: int | None

    def shown(self) -> Extended:
        return Extended(
            self.product,
            price=self.price,
            on_sale=self.on_sale,
            remaining_limit=self.remaining_limit,
        )


def _offer(product: Product, bought: int, now: datetime, *, vip_percent: int) -> Offer:
    rule = product.price_rule
    limit = product.per_member_limit
    return Offer(
        product,
        rule.unit_price(now, vip_percent=vip_percent),
        rule.unit_price(now, vip_percent=0) != rule.base,
        None if limit is None else max(limit - bought, 0),
    )


async def catalogue(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest, now: datetime, *, vip_percent: int
) -> Page[Offer]:
    """The products on sale now, as the member pays for them."""
    found = await repository.products.on_sale_page(session, now, page)
    bought = await repository.products.bought_by(
        session, user_id, [product.product_id for product in found.items]
    )
    return found.map(
        lambda product: _offer(
            product, bought.get(product.product_id, 0), now, vip_percent=vip_percent
        )
    )


async def offer(
    session: AsyncSession, user_id: uuid.UUID, product_id: str, now: datetime, *, vip_percent: int
) -> Offer:
    """One product on sale now (404 `product_not_found` if it is not)."""
    product = await repository.products.on_sale_one(session, product_id, now)
    if product is None:
        raise ProductNotFound(details={"product_id": product_id})
    bought = await repository.products.bought_by(session, user_id, [product_id])
    return _offer(product, bought.get(product_id, 0), now, vip_percent=vip_percent)


# buying


@dataclass(frozen=True)
class Bought:
    purchase: Purchase
    created: bool
    """False for a replay of the same idempotency key."""


@dataclass(frozen=True)
class Order:
    """What a member asks to buy."""

    user_id: uuid.UUID
    product_id: str
    quantity: int
    promo_code: str | None
    idempotency_key: str


async def buy(
    session: AsyncSession, order: Order, now: datetime, *, vip_percent: int, payments: PaymentPort
) -> Bought:
    """Buy a product. Coin- and gem-priced: paid from the ledger and granted at once
    (`fulfilled`). Money-priced: a `pending` purchase with the provider's checkout, the stock
    and limits reserved until the payment settles. The same idempotency key answers the
    same purchase; any refusal writes nothing."""
    earlier = await repository.purchases.by_key(session, order.user_id, order.idempotency_key)
    if earlier is not None:
        return Bought(_same_order(earlier, order), created=False)
    on_offer = await offer(session, order.user_id, order.product_id, now, vip_percent=vip_percent)
    product = on_offer.product
    promo = await _usable_promo(session, order.promo_code, product, now)
    purchase = await _insert_purchase(session, order, product, on_offer.price, promo)
    if purchase is None:  # a twin with the same key committed first
        twin = await repository.purchases.by_key(session, order.user_id, order.idempotency_key)
        assert twin is not None, "ON CONFLICT DO NOTHING skipped a purchase that is not there"
        return Bought(_same_order(twin, order), created=False)
    await responsible_play.charge_play(
        session, order.user_id, spent=purchase.amount, currency=purchase.price_currency,
        now=now, bet=False,
    )  # fmt: skip
    await _reserve_stock(session, product, order.quantity, now)
    await _reserve_member_limit(session, order.user_id, product, order.quantity)
    if promo is not None:
        await _redeem(session, promo, purchase, now)
    if is_money(product.price_currency):
        await _open_checkout(purchase, product, payments)
    else:
        await _pay_from_ledger(session, purchase)
        await _fulfil(session, purchase, now)
        if product.price_currency == GEMS:  # gems spent may reach a VIP tier (B3)
            await vip.review(session, order.user_id, now)
    return Bought(purchase, created=True)


def _same_order(purchase: Purchase, order: Order) -> Purchase:
    """The purchase an idempotency key made, if the order is the same (409 otherwise)."""
    if (purchase.product_id, purchase.quantity, purchase.promo_code) != (
        order.product_id,
        order.quantity,
        order.promo_code,
    ):
        raise IdempotencyKeyReused(details={"purchase_id": str(purchase.id)})
    return purchase


async def _insert_purchase(
    session: AsyncSession,
    order: Order,
    product: Product,
    unit_price: int,
    promo: PromoCode | None,
) -> Purchase | None:
    """The new `pending` purchase, or None if one with the same key exists (a concurrent
    twin's insert waits for the first to commit, then finds its row)."""
    percent = promo.percent_off if promo is not None and promo.percent_off else 0
    bonus = Contents.of(promo.bonus) if promo is not None else Contents()
    contents = product.unit_contents.times(order.quantity).plus(bonus)
    statement = (
        insert(Purchase)
        .values(
            id=new_id(),
            user_id=order.user_id,
            product_id=product.product_id,
            quantity=order.quantity,
            idempotency_key=order.idempotency_key,
            status=PurchaseStatus.PENDING,
            price_currency=product.price_currency,
            unit_price=unit_price,
            amount=total_price(unit_price, order.quantity, percent),
            promo_code=order.promo_code,
            contents=contents.as_json(),
        )
        .on_conflict_do_nothing(index_elements=[Purchase.user_id, Purchase.idempotency_key])
        .returning(Purchase)
    )
    created: Purchase | None = await session.scalar(statement)
    return created


async def _usable_promo(
    session: AsyncSession, code: str | None, product: Product, now: datetime
) -> PromoCode | None:
    """The promo code, if it may apply to `product` now (409 `promo_<reason>` otherwise).
    Its uses are spent later, by `_redeem`, in one conditional statement."""
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


async def _redeem(
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


async def _reserve_stock(
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


async def _reserve_member_limit(
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


async def _release(session: AsyncSession, purchase: Purchase) -> None:
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


async def _open_checkout(purchase: Purchase, product: Product, payments: PaymentPort) -> None:
    checkout = await payments.create_checkout(
        purchase_id=purchase.id,
        amount=purchase.amount,
        currency=purchase.price_currency,
        description=f"{purchase.quantity} × {product.name}",
    )
    purchase.provider = payments.name
    purchase.provider_txn_id = checkout.transaction_id
    purchase.checkout_url = checkout.checkout_url


async def _pay_from_ledger(session: AsyncSession, purchase: Purchase) -> None:
    """Take the price from the member's coins or gems (409 `insufficient_funds`)."""
    try:
        await ledger.spend_by_owner(
            session,
            _owner(purchase.user_id, purchase.price_currency),
            amount=purchase.amount,
            reason=ShopReason.PURCHASE,
            reference_type=REFERENCE_TYPE,
            reference_id=str(purchase.id),
            idempotency_key=ledger_key(purchase.id, "pay"),
        )
    except InsufficientBalance as exc:
        raise InsufficientFunds(
            details={"currency": purchase.price_currency, "price": purchase.amount}
        ) from exc


async def _fulfil(session: AsyncSession, purchase: Purchase, now: datetime) -> None:
    """A paid purchase granted (each ledger grant keyed by the purchase: once, however
    often this runs) and `fulfilled`."""
    move(purchase, PurchaseStatus.PAID, now)
    granted = purchase.granted
    for currency, amount in granted.currencies().items():
        await ledger.post_by_owner(
            session,
            _owner(purchase.user_id, currency),
            Direction.EARN,
            {
                "amount": amount,
                "reason": ShopReason.GRANT,
                "reference_type": REFERENCE_TYPE,
                "reference_id": str(purchase.id),
                "idempotency_key": ledger_key(purchase.id, f"grant-{currency}"),
            },
        )
        await _repay_debt(session, purchase, currency, amount)
    await inventory.grant(session, purchase.user_id, granted.items)
    move(purchase, PurchaseStatus.FULFILLED, now)
    fulfilled = PurchaseFulfilled(
        purchase_id=purchase.id, user_id=purchase.user_id, occurred_at=now
    )
    owner = str(purchase.user_id)
    await publish(
        session, Envelope.of(fulfilled, aggregate_type=AGGREGATE_PURCHASE, aggregate_id=owner)
    )
    await messages.purchase_fulfilled(session, purchase)


async def _repay_debt(
    session: AsyncSession, purchase: Purchase, currency: str, granted: int
) -> None:
    """Out of what a purchase just granted, pay back the member's debt in that currency
    first (a refund's debt is settled by the next purchase, never by a negative balance)."""
    debt = await session.scalar(
        select(Debt)
        .where(Debt.user_id == purchase.user_id, Debt.currency == currency, Debt.amount > 0)
        .with_for_update()
    )
    if debt is None:
        return
    repaid = min(debt.amount, granted)
    await ledger.spend_by_owner(
        session,
        _owner(purchase.user_id, currency),
        amount=repaid,
        reason=ShopReason.DEBT_REPAYMENT,
        reference_type=REFERENCE_TYPE,
        reference_id=str(purchase.id),
        idempotency_key=ledger_key(purchase.id, f"repay-{currency}"),
    )
    debt.amount -= repaid


async def _close(
    session: AsyncSession, purchase: Purchase, status: PurchaseStatus, reason: str, now: datetime
) -> None:
    """A pending purchase that will never be paid: `failed` or `cancelled`, its reservations
    given back."""
    move(purchase, status, now)
    purchase.failure_reason = reason[:200]
    await _release(session, purchase)


# payments


async def settle_payment(
    session: AsyncSession, provider: str, event: PaymentEvent, now: datetime
) -> Purchase:
    """Settle a purchase from its provider's notification. Idempotent on the transaction:
    a purchase already settled is answered as it is (a repeated `paid` grants nothing
    twice). A `paid` whose amount, currency or product is not the purchase's fails it (409
    `payment_mismatch`, nothing granted)."""
    purchase = await repository.purchases.by_transaction(session, provider, event.transaction_id)
    if purchase is None:
        raise PurchaseNotFound(details={"transaction_id": event.transaction_id})
    if purchase.status is not PurchaseStatus.PENDING:
        return purchase
    if event.status != PaymentStatus.PAID.value:
        await _close(
            session, purchase, PurchaseStatus(event.status), f"payment {event.status}", now
        )
        return purchase
    paid = (event.amount, event.currency, event.product_id)
    expected = (purchase.amount, purchase.price_currency, purchase.product_id)
    if paid != expected:
        await _close(session, purchase, PurchaseStatus.FAILED, "payment mismatch", now)
        raise PaymentMismatch(
            details={
                "expected": dict(zip(("amount", "currency", "product_id"), expected, strict=True)),
                "paid": dict(zip(("amount", "currency", "product_id"), paid, strict=True)),
            }
        )
    await _fulfil(session, purchase, now)
    return purchase


SWEEP_BATCH = 100


async def sweep_pending(
    session: AsyncSession, *, created_before: datetime, now: datetime
) -> dict[str, int]:
    """Settle purchases left `pending` since before `created_before` by asking their
    provider: paid → fulfilled, cancelled → cancelled, failed or unknown → failed; still
    pending at the provider → left. How many went each way."""
    settled: dict[str, int] = {}
    for purchase in await repository.purchases.stuck(session, created_before, SWEEP_BATCH):
        assert purchase.provider is not None
        assert purchase.provider_txn_id is not None
        status = await payment_port(purchase.provider).payment_status(purchase.provider_txn_id)
        if status is PaymentStatus.PENDING:
            continue
        if status is PaymentStatus.PAID:
            await _fulfil(session, purchase, now)
        elif status is PaymentStatus.CANCELLED:
            await _close(session, purchase, PurchaseStatus.CANCELLED, "payment cancelled", now)
        else:
            await _close(session, purchase, PurchaseStatus.FAILED, f"payment {status}", now)
        settled[purchase.status.value] = settled.get(purchase.status.value, 0) + 1
    return settled


async def debts(session: AsyncSession, user_id: uuid.UUID) -> dict[str, int]:
    """What a member owes, by currency (only refunds make debts)."""
    rows = await session.execute(
        select(Debt.currency, Debt.amount).where(Debt.user_id == user_id, Debt.amount > 0)
    )
    return {row.currency: row.amount for row in rows}


# receipts


async def receipts(session: AsyncSession, user_id: uuid.UUID, page: PageRequest) -> Page[Purchase]:
    return await repository.purchases.page_of(session, user_id, page)


async def receipt(session: AsyncSession, user_id: uuid.UUID, purchase_id: uuid.UUID) -> Purchase:
    """One of the member's purchases (404 `purchase_not_found` for anyone else's)."""
    return await repository.purchases.get_or_404(
        session,
        purchase_id,
        PurchaseNotFound(details={"purchase_id": str(purchase_id)}),
        visible=lambda purchase: purchase.user_id == user_id,
    )
