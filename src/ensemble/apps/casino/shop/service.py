"""Shop use cases: the catalogue, buying (from the ledger at once, or with money through the
payment port), payment webhooks, the sweep of stuck payments, debts and receipts (the admin's
products, promo codes and refunds are `admin.service`'s; what a purchase holds until it is
paid is `reservations`'). Never commit. A refusal raises, so the request's transaction
writes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.auth import REALM
from ensemble.apps.casino.domain import GEMS
from ensemble.apps.casino.events import AGGREGATE_PURCHASE, PurchaseFulfilled
from ensemble.apps.casino.inventory import service as inventory
from ensemble.apps.casino.limits import service as responsible_play
from ensemble.apps.casino.notifications import messages
from ensemble.apps.casino.shop import repository, reservations
from ensemble.apps.casino.shop.domain import (
    Contents,
    PurchaseStatus,
    ShopReason,
    can_move,
    is_money,
    ledger_key,
    total_price,
)
from ensemble.apps.casino.shop.models import (
    Debt,
    Product,
    PromoCode,
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


class InsufficientFunds(Conflict):
    code = "insufficient_funds"
    message = "Your balance does not cover the price."


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This idempotency key was used for another purchase."


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
    promo = await reservations.usable_promo(session, order.promo_code, product, now)
    purchase = await _insert_purchase(session, order, product, on_offer.price, promo)
    if purchase is None:  # a twin with the same key committed first
        twin = await repository.purchases.by_key(session, order.user_id, order.idempotency_key)
        assert twin is not None, "ON CONFLICT DO NOTHING skipped a purchase that is not there"
        return Bought(_same_order(twin, order), created=False)
    await responsible_play.charge_play(
        session, order.user_id, spent=purchase.amount, currency=purchase.price_currency,
        now=now, bet=False,
    )  # fmt: skip
    await reservations.reserve_stock(session, product, order.quantity, now)
    await reservations.reserve_member_limit(session, order.user_id, product, order.quantity)
    if promo is not None:
        await reservations.redeem(session, promo, purchase, now)
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
    await reservations.release(session, purchase)


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
