"""The shop's request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ensemble.apps.casino.shop.domain import (
    MAX_DISCOUNT_PERCENT,
    MAX_QUANTITY,
    ProductKind,
    PromoKind,
    PurchaseStatus,
)
from ensemble.kernel.schemas import (
    ClosedRequestModel,
    FromText,
    Instant,
    RequestModel,
    ResponseModel,
    RowId,
)

PRODUCT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
PROMO_CODE_PATTERN = r"^[A-Za-z0-9-]{1,32}$"
IDEMPOTENCY_KEY = Field(min_length=1, max_length=64, examples=["3f1c2b7e-buy-1"])
Price = Annotated[int, Field(gt=0, le=10**12)]
Count = Annotated[int, Field(gt=0, le=10**9)]
Percent = Annotated[int, Field(ge=0, le=MAX_DISCOUNT_PERCENT)]


class ContentsBody(ClosedRequestModel):
    """What a product unit or a promo bonus grants."""

    coins: int = Field(default=0, ge=0, le=10**12)
    gems: int = Field(default=0, ge=0, le=10**12)
    items: dict[Annotated[str, Field(max_length=64)], Count] = Field(
        default_factory=dict, max_length=20
    )


class Contents(ResponseModel):
    coins: int
    gems: int
    items: dict[str, int]


# members


class BuyRequest(ClosedRequestModel):
    product_id: str = Field(pattern=PRODUCT_ID_PATTERN)
    quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY)
    promo_code: str | None = Field(default=None, pattern=PROMO_CODE_PATTERN)
    idempotency_key: str = IDEMPOTENCY_KEY


class ProductPublic(ResponseModel):
    """A product as the caller sees it: the price they pay now, stock and their limit."""

    product_id: str
    name: str
    description: str
    kind: ProductKind
    price_currency: str = Field(description="`coins`, `gems`, or `USD` (in cents)")
    base_price: int
    price: int = Field(description="One unit's price as you pay it now (sale, VIP discount)")
    on_sale: bool = Field(description="The sale price applies now")
    contents: Contents = Field(description="What one unit grants")
    available_until: datetime | None
    stock_left: int | None = Field(description="Units left of a limited package (null: no limit)")
    per_member_limit: int | None
    remaining_limit: int | None = Field(description="How many more you may buy (null: no limit)")


class PurchasePublic(ResponseModel):
    """A purchase: the receipt."""

    purchase_id: RowId
    product_id: str
    quantity: int
    status: PurchaseStatus
    price_currency: str
    unit_price: int
    amount: int = Field(description="What you pay in all")
    promo_code: str | None
    contents: Contents = Field(description="What the purchase grants in all")
    provider: str | None
    provider_txn_id: str | None
    checkout_url: str | None = Field(description="Where to pay a money-priced purchase")
    failure_reason: str | None
    created_at: datetime
    paid_at: datetime | None
    fulfilled_at: datetime | None
    refunded_at: datetime | None


# webhooks


class PaymentEvent(RequestModel):
    """A provider's notification of a payment (signed, see `payments`)."""

    transaction_id: str = Field(min_length=1, max_length=128)
    status: Literal["paid", "failed", "cancelled"]
    amount: int = Field(ge=0)
    currency: str = Field(min_length=1, max_length=16)
    product_id: str = Field(min_length=1, max_length=64)


class WebhookAck(ResponseModel):
    purchase_id: RowId
    status: PurchaseStatus


# admin


class ProductCreate(ClosedRequestModel):
    product_id: str = Field(pattern=PRODUCT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    kind: FromText[ProductKind]
    price_currency: str = Field(min_length=1, max_length=16)
    base_price: Price
    sale_price: Price | None = None
    sale_starts_at: Instant | None = None
    sale_ends_at: Instant | None = None
    vip_discount_percent: Percent = 0
    contents: ContentsBody
    available_from: Instant | None = None
    available_until: Instant | None = None
    stock_total: Count | None = None
    per_member_limit: Count | None = None
    is_enabled: bool = True
    sort_order: int = Field(default=0, ge=-(10**6), le=10**6)


class ProductUpdate(ClosedRequestModel):
    """The fields to change (kind, currency and contents are fixed once sold)."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    base_price: Price | None = None
    sale_price: Price | None = None
    sale_starts_at: Instant | None = None
    sale_ends_at: Instant | None = None
    vip_discount_percent: Percent | None = None
    available_from: Instant | None = None
    available_until: Instant | None = None
    stock_total: Count | None = None
    per_member_limit: Count | None = None
    sort_order: int | None = Field(default=None, ge=-(10**6), le=10**6)

    @model_validator(mode="after")
    def _something(self) -> ProductUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        if "base_price" in self.model_fields_set and self.base_price is None:
            raise ValueError("a product keeps a base price")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


class ProductSwitch(ClosedRequestModel):
    """The emergency switch: off, nobody sees or buys the product."""

    enabled: bool


class ProductAdmin(ResponseModel):
    product_id: str
    name: str
    description: str
    kind: ProductKind
    price_currency: str
    base_price: int
    sale_price: int | None
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None
    vip_discount_percent: int
    contents: Contents
    available_from: datetime | None
    available_until: datetime | None
    stock_total: int | None
    stock_sold: int
    per_member_limit: int | None
    is_enabled: bool
    sort_order: int
    updated_at: datetime


class PromoCreate(ClosedRequestModel):
    code: str = Field(pattern=PROMO_CODE_PATTERN)
    kind: FromText[PromoKind]
    percent_off: int | None = Field(default=None, ge=1, le=MAX_DISCOUNT_PERCENT)
    bonus: ContentsBody | None = None
    product_id: str | None = Field(default=None, pattern=PRODUCT_ID_PATTERN)
    max_uses: Count | None = None
    expires_at: Instant | None = None

    @model_validator(mode="after")
    def _percent_or_bonus(self) -> PromoCreate:
        if self.kind is PromoKind.PERCENT and (self.percent_off is None or self.bonus):
            raise ValueError("a percent code has `percent_off` and no `bonus`")
        if self.kind is PromoKind.BONUS and (self.bonus is None or self.percent_off):
            raise ValueError("a bonus code has a `bonus` and no `percent_off`")
        return self


class PromoPublic(ResponseModel):
    code: str
    kind: PromoKind
    percent_off: int | None
    bonus: Contents | None
    product_id: str | None
    max_uses: int | None
    uses: int
    expires_at: datetime | None
    is_active: bool


class RefundRequest(ClosedRequestModel):
    reason: str = Field(min_length=1, max_length=500)


class RefundPublic(PurchasePublic):
    user_id: uuid.UUID
    refund_reason: str | None
    refund_debt: dict[str, int] | None = Field(
        description="What could not be taken back (already spent), now the member's debt"
    )
