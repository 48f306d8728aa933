"""Request and response bodies of the Stock API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, EmailStr, Field, model_validator

from ensemble.apps.stock.models import Role, TransactionType
from ensemble.kernel.openapi import errors_described
from ensemble.kernel.schemas import Extended, FromText, Instant, RequestModel, ResponseModel

PREFIX = "/api/v1"
"""Where every route of the app lives (each router carries it, so a route knows its full
path: logs, metrics and spans name it)."""

Name = Annotated[str, Field(min_length=1, max_length=200)]
Barcode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S+$")]
Price = Annotated[int, Field(ge=0, le=10**12)]
SafetyStock = Annotated[int, Field(ge=0, le=10**9)]
Reason = Annotated[str, Field(max_length=500)]
AnyQuantity = Annotated[int, Field(ge=-(2**62), le=2**62)]
MAX_SYNC_RECORDS = 5000


# Documented error answers

_DESCRIBED = {
    401: "No valid token (missing, expired, revoked or another app's), or the account is"
    " disabled (`account_disabled`)",
    403: "Not an admin (`role_forbidden`), or not assigned to the store (`store_forbidden`,"
    " also for a store that does not exist)",
    404: "The store (`store_not_found`, for an admin) or the item does not exist",
    422: "Invalid input (`validation_error`, `invalid_cursor`, …)",
}


errors = errors_described(_DESCRIBED)
"""`responses=` for the error statuses a route can answer (see `_DESCRIBED`)."""


ADMIN = (401, 403, 422)
IN_STORE = (401, 403, 404, 422)


# Users


class UserCreate(RequestModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=128)
    name: Name
    role: FromText[Role] = Role.WORKER
    store_ids: list[FromText[uuid.UUID]] = Field(default_factory=list, max_length=1000)


class UserUpdate(RequestModel):
    name: Name | None = None
    role: FromText[Role] | None = None
    store_ids: list[FromText[uuid.UUID]] | None = Field(default=None, max_length=1000)
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=128)


class UserPublic(ResponseModel):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    is_active: bool
    store_ids: list[uuid.UUID]
    created_at: datetime
    updated_at: datetime


# Stores and categories


class StoreCreate(RequestModel):
    name: Name
    address: str | None = Field(default=None, max_length=500)
    allow_negative_stock: bool = False


class StoreUpdate(RequestModel):
    name: Name | None = None
    address: str | None = Field(default=None, max_length=500)
    allow_negative_stock: bool | None = None


class StorePublic(ResponseModel):
    id: uuid.UUID
    name: str
    address: str | None
    allow_negative_stock: bool
    created_at: datetime
    updated_at: datetime


class CategoryCreate(RequestModel):
    id: FromText[uuid.UUID] | None = None
    name: str = Field(min_length=1, max_length=100)


class CategoryUpdate(RequestModel):
    name: str = Field(min_length=1, max_length=100)


class CategoryPublic(ResponseModel):
    id: uuid.UUID
    store_id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


# Products and stock


class ProductCreate(RequestModel):
    id: FromText[uuid.UUID] | None = None
    barcode: Barcode
    name: Name
    category_id: FromText[uuid.UUID] | None = None
    unit_price: Price
    safety_stock: SafetyStock = 0
    updated_at: Instant | None = None


class ProductUpdate(RequestModel):
    """Fields to change; `category_id: null` clears the category."""

    barcode: Barcode | None = None
    name: Name | None = None
    category_id: FromText[uuid.UUID] | None = None
    unit_price: Price | None = None
    safety_stock: SafetyStock | None = None


class ProductPublic(ResponseModel):
    id: uuid.UUID
    store_id: uuid.UUID
    barcode: str
    name: str
    category_id: uuid.UUID | None
    unit_price: int
    safety_stock: int
    stock: int
    is_low: bool
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class StockPublic(ResponseModel):
    product_id: uuid.UUID
    store_id: uuid.UUID
    quantity: int
    safety_stock: int
    is_low: bool
    updated_at: datetime


# Inventory transactions


class TransactionCreate(RequestModel):
    id: FromText[uuid.UUID] | None = None
    product_id: FromText[uuid.UUID]
    type: FromText[TransactionType]
    quantity: AnyQuantity
    reason: Reason | None = None
    occurred_at: Instant | None = None


class TransactionPublic(ResponseModel):
    id: uuid.UUID
    store_id: uuid.UUID
    product_id: uuid.UUID
    type: TransactionType
    quantity: int
    delta: int
    reason: str | None
    occurred_at: datetime
    created_at: datetime
    synced_at: datetime
    device_id: str | None
    user_id: uuid.UUID | None


class TransactionRecorded(BaseModel):
    transaction: TransactionPublic
    stock: StockPublic


# Offline sync


class SyncTransaction(RequestModel):
    id: FromText[uuid.UUID]
    product_id: FromText[uuid.UUID]
    type: FromText[TransactionType]
    quantity: AnyQuantity
    reason: Reason | None = None
    occurred_at: Instant
    created_at: Instant


class SyncProduct(RequestModel):
    id: FromText[uuid.UUID]
    barcode: Barcode
    name: Name
    category_id: FromText[uuid.UUID] | None = None
    unit_price: Price
    safety_stock: SafetyStock = 0
    updated_at: Instant
    deleted: bool = False


class SyncRequest(RequestModel):
    device_id: str = Field(min_length=1, max_length=128)
    store_id: FromText[uuid.UUID]
    transactions: list[SyncTransaction] = Field(default_factory=list)
    products: list[SyncProduct] = Field(default_factory=list)
    cursor: str | None = Field(
        default=None,
        max_length=512,
        description="The device's last `/sync/changes` cursor, echoed back in the response.",
    )

    @model_validator(mode="after")
    def _bounded(self) -> SyncRequest:
        if len(self.transactions) + len(self.products) > MAX_SYNC_RECORDS:
            raise ValueError(f"a batch holds at most {MAX_SYNC_RECORDS} records")
        return self


SyncStatus = Literal["applied", "duplicate", "superseded", "rejected"]
SyncReason = Literal[
    "negative_stock",
    "newer_in_batch",
    "unknown_product",
    "unknown_category",
    "wrong_store",
    "barcode_conflict",
    "id_conflict",
    "quantity_not_positive",
    "adjust_quantity_zero",
    "quantity_out_of_range",
]


class SyncResult(BaseModel):
    entity: Literal["transaction", "product"]
    id: uuid.UUID
    status: SyncStatus = Field(
        description=(
            "`applied`; `duplicate`: this id was applied before with the same content, nothing"
            " applied twice; `superseded`: (product) the server's copy is newer (last write"
            " wins) and is returned; `rejected`: invalid, see `reason`"
        )
    )
    reason: SyncReason | None = Field(
        default=None,
        description=(
            "`negative_stock`: (applied) the OUT took stock below zero; `newer_in_batch`:"
            " (superseded) a newer copy of the product came in the same batch; rejected:"
            " `unknown_product`, `unknown_category`, `wrong_store` (the product is another"
            " store's), `barcode_conflict` (another live product has the barcode),"
            " `id_conflict` (the id holds another record), `quantity_not_positive` (IN/OUT),"
            " `adjust_quantity_zero`, `quantity_out_of_range`"
        ),
    )
    server_updated_at: datetime | None = None
    product: ProductPublic | None = Field(
        default=None, description="The server's copy, when a product record was superseded."
    )


class SyncResponse(BaseModel):
    results: list[SyncResult]
    cursor: str = Field(
        description=(
            "Where to pull `/sync/changes` from next: the request's `cursor` (or the start of"
            " the feed), which lies before this batch's effects and before every change the"
            " device has not pulled yet. The server never hands out a position past a change"
            " the device may not have seen."
        )
    )


class ChangesResponse(BaseModel):
    store_id: uuid.UUID
    categories: list[CategoryPublic]
    products: list[ProductPublic]
    transactions: list[TransactionPublic]
    stock: list[StockPublic]
    cursor: str
    has_more: bool


# Snapshot bootstrap: one JSON object a line, told apart by `kind`


class SnapshotCategory(CategoryPublic):
    kind: Literal["category"]


class SnapshotProduct(ProductPublic):
    kind: Literal["product"]


class SnapshotStock(StockPublic):
    kind: Literal["stock"]


class SnapshotEnd(BaseModel):
    """The last line: the change-feed cursor to pull from next, and the rows sent before it."""

    kind: Literal["end"]
    cursor: str
    rows: int


SnapshotLine = Annotated[
    SnapshotCategory | SnapshotProduct | SnapshotStock | SnapshotEnd, Field(discriminator="kind")
]


# Shaping


def product_public(product: Any, stock: int) -> ProductPublic:
    """A product with its stock, low when at or under its safety stock."""
    return ProductPublic.model_validate(
        Extended(product, stock=stock, is_low=stock <= product.safety_stock)
    )


def stock_public(stock: Any, safety_stock: int) -> StockPublic:
    """A stock row with its product's safety stock, low when at or under it."""
    return StockPublic.model_validate(
        Extended(stock, safety_stock=safety_stock, is_low=stock.quantity <= safety_stock)
    )
