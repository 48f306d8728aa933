"""The shop's routes: the catalogue, buying, payment webhooks and receipts for members; the
products, promo codes and refunds for admins."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.admin import service as catalogue
from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.auth import Admin, CurrentUser
from ensemble.apps.casino.limits.schemas import PLAY_REFUSED
from ensemble.apps.casino.schemas import INPUT, OWNED, PREFIX, errors
from ensemble.apps.casino.settings import CasinoDep
from ensemble.apps.casino.shop import service
from ensemble.apps.casino.shop.payments import (
    SIGNATURE_HEADER,
    payment_port,
    verify_signature,
)
from ensemble.apps.casino.shop.schemas import (
    PRODUCT_ID_PATTERN,
    BuyRequest,
    PaymentEvent,
    ProductAdmin,
    ProductCreate,
    ProductPublic,
    ProductSwitch,
    ProductUpdate,
    PromoCreate,
    PromoPublic,
    PurchasePublic,
    RefundPublic,
    RefundRequest,
    WebhookAck,
)
from ensemble.apps.casino.vip import service as vip
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.errors import InvalidInput
from ensemble.kernel.identity.principal import Principal
from ensemble.kernel.pagination import Page, PageDep

router = APIRouter(prefix=PREFIX)

ProductId = Annotated[str, Path(pattern=PRODUCT_ID_PATTERN)]
Provider = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,32}$")]


async def _vip(session: AsyncSession, user: Principal) -> int:
    """The caller's VIP tier discount (B3), in percent."""
    return await vip.shop_discount(session, user.account_id)


@router.get("/shop/products", tags=["shop"], responses=errors(*INPUT))
async def products(user: CurrentUser, session: SessionDep, page: PageDep) -> Page[ProductPublic]:
    """The products on sale now, at the price you pay (sale, VIP discount), with the stock
    left of limited packages and how many more of each you may buy."""
    found = await service.catalogue(
        session, user.account_id, page, utcnow(), vip_percent=await _vip(session, user)
    )
    return found.map(lambda offer: ProductPublic.model_validate(offer.shown()))


@router.get(
    "/shop/products/{product_id}",
    tags=["shop"],
    responses=errors(*OWNED, (404, "Not on sale (`product_not_found`)")),
)
async def product(product_id: ProductId, user: CurrentUser, session: SessionDep) -> ProductPublic:
    """One product on sale now, as you would pay for it."""
    found = await service.offer(
        session, user.account_id, product_id, utcnow(), vip_percent=await _vip(session, user)
    )
    return ProductPublic.model_validate(found.shown())


@router.post(
    "/shop/buy",
    status_code=status.HTTP_201_CREATED,
    tags=["shop"],
    responses=errors(
        *INPUT,
        (404, "Not on sale (`product_not_found`)"),
        PLAY_REFUSED,
        (
            409,
            "Not bought, and nothing written: `sold_out`, `purchase_limit_reached`,"
            " `limit_reached` (responsible play),"
            " `insufficient_funds`, `promo_<unknown|inactive|expired|used_up|"
            "already_redeemed|not_applicable>`, `idempotency_key_reused`",
        ),
    ),
)
async def buy(
    body: BuyRequest, user: CurrentUser, session: SessionDep, casino: CasinoDep, response: Response
) -> PurchasePublic:
    """Buy a product. Coin- or gem-priced: paid and granted at once (`fulfilled`). Gem packs
    (money): a `pending` purchase with a `checkout_url`, fulfilled when the provider's
    webhook says it is paid. The same `idempotency_key` answers the same purchase (200)."""
    order = service.Order(
        user.account_id, body.product_id, body.quantity, body.promo_code, body.idempotency_key
    )
    payments = payment_port(casino.settings.payment_provider)
    bought = await service.buy(
        session, order, utcnow(), vip_percent=await _vip(session, user), payments=payments
    )
    if not bought.created:
        response.status_code = status.HTTP_200_OK
    return PurchasePublic.model_validate(bought.purchase)


@router.post(
    "/shop/webhooks/{provider}",
    tags=["shop"],
    responses=errors(
        422,
        (400, "The timestamp is outside the replay window (`webhook_expired`)"),
        (401, "The signature is missing or wrong (`invalid_signature`)"),
        (404, "Unknown provider or transaction (`provider_not_found`, `purchase_not_found`)"),
        (409, "Amount, currency or product unlike the purchase's: it failed (`payment_mismatch`)"),
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PaymentEvent.model_json_schema()}},
        }
    },
)
async def payment_webhook(
    provider: Provider, request: Request, session: SessionDep, casino: CasinoDep
) -> WebhookAck:
    """A payment provider's notification, signed with `CASINO_PAYMENT_WEBHOOK_SECRET` over
    the timestamp and the raw body (how: `casino.shop.payments`). Idempotent on the
    transaction: a repeat answers 200 and grants nothing twice."""
    payment_port(provider)
    settings = casino.settings
    body = await request.body()
    verify_signature(
        settings.payment_webhook_secret.get_secret_value().encode(),
        body,
        request.headers.get(SIGNATURE_HEADER),
        now=time.time(),
        tolerance=settings.payment_webhook_tolerance_seconds,
    )
    try:
        event = PaymentEvent.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidInput(
            "The notification is not valid.",
            details={"errors": exc.errors(include_url=False, include_input=False)},
        ) from exc
    purchase = await service.settle_payment(session, provider, event, utcnow())
    return WebhookAck.model_validate(purchase)


@router.get("/shop/receipts", tags=["shop"], responses=errors(*INPUT))
async def receipts(user: CurrentUser, session: SessionDep, page: PageDep) -> Page[PurchasePublic]:
    """Your purchases, the newest first: status, amounts, the provider's transaction id."""
    found = await service.receipts(session, user.account_id, page)
    return found.map(PurchasePublic.model_validate)


@router.get("/shop/receipts/{purchase_id}", tags=["shop"], responses=errors(*OWNED))
async def receipt(purchase_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> PurchasePublic:
    """One of your purchases (404 `purchase_not_found` for anyone else's)."""
    return PurchasePublic.model_validate(
        await service.receipt(session, user.account_id, purchase_id)
    )


# admin

ADMIN = (401, 403, 422)


@router.post(
    "/admin/shop/products",
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    responses=errors(
        *ADMIN,
        (409, "The id is taken (`product_exists`)"),
    ),
)
async def create_product(body: ProductCreate, admin: Admin, session: SessionDep) -> ProductAdmin:
    """A new product (422 `invalid_product` when it breaks a shop rule: gem packs are priced
    in money and hold gems alone, nothing else holds gems, known items only)."""
    product = await catalogue.create_product(session, body)
    details = body.model_dump(mode="json")
    await audit.record(
        session, admin.account_id, "product.create", "product", body.product_id, details
    )
    return ProductAdmin.model_validate(product)


@router.patch(
    "/admin/shop/products/{product_id}",
    tags=["admin"],
    responses=errors(*ADMIN, (404, "No such product (`product_not_found`)")),
)
async def update_product(
    product_id: ProductId, body: ProductUpdate, admin: Admin, session: SessionDep
) -> ProductAdmin:
    """Change a product's prices, sale, window, stock or limit."""
    product = await catalogue.update_product(session, product_id, body.changes())
    details = body.model_dump(mode="json", exclude_unset=True)
    await audit.record(session, admin.account_id, "product.update", "product", product_id, details)
    return ProductAdmin.model_validate(product)


@router.put(
    "/admin/shop/products/{product_id}/enabled",
    tags=["admin"],
    responses=errors(*ADMIN, (404, "No such product (`product_not_found`)")),
)
async def switch_product(
    product_id: ProductId, body: ProductSwitch, admin: Admin, session: SessionDep
) -> ProductAdmin:
    """The emergency switch: off, the product is neither listed nor sold, at once."""
    product = await catalogue.switch_product(session, product_id, enabled=body.enabled)
    details = {"enabled": body.enabled}
    await audit.record(session, admin.account_id, "product.switch", "product", product_id, details)
    return ProductAdmin.model_validate(product)


@router.post(
    "/admin/shop/promo-codes",
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    responses=errors(
        *ADMIN,
        (404, "No such product (`product_not_found`)"),
        (409, "The code is taken (`promo_exists`)"),
    ),
)
async def create_promo(body: PromoCreate, admin: Admin, session: SessionDep) -> PromoPublic:
    """A new promo code: a percentage off or a bonus, a usage limit, an expiry."""
    promo = await catalogue.create_promo(session, body)
    details = body.model_dump(mode="json")
    await audit.record(session, admin.account_id, "promo.create", "promo_code", body.code, details)
    return PromoPublic.model_validate(promo)


@router.post(
    "/admin/shop/purchases/{purchase_id}/refund",
    tags=["admin"],
    responses=errors(
        *ADMIN,
        (404, "No such purchase (`purchase_not_found`)"),
        (409, "Refunded already (`already_refunded`), or not a fulfilled money purchase"
         " (`purchase_not_refundable`)"),
    ),
)  # fmt: skip
async def refund(
    purchase_id: uuid.UUID, body: RefundRequest, admin: Admin, session: SessionDep
) -> RefundPublic:
    """Refund a money purchase through its provider and take back the gems it granted;
    what the member already spent is recorded as their debt."""
    refunded = await catalogue.refund(session, purchase_id, body.reason, utcnow())
    details = {"reason": body.reason}
    await audit.record(
        session, admin.account_id, "purchase.refund", "purchase", purchase_id, details
    )
    return RefundPublic.model_validate(refunded)
