"""Stock catalog use cases: categories and products. Never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.stock import repository
from ensemble.apps.stock.auth import StoreAccess
from ensemble.apps.stock.domain import product_digest
from ensemble.apps.stock.models import Category, CurrentStock, Product
from ensemble.apps.stock.repository import ProductFilter, ProductRow
from ensemble.apps.stock.schemas import CategoryCreate, CategoryUpdate, ProductCreate, ProductUpdate
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.db.repository import insert
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.pagination import Page, PageRequest

SERVER_DEVICE = ""  # online edits carry no device id: any device wins a same-instant tie


# Categories


async def create_category(
    session: AsyncSession, access: StoreAccess, data: CategoryCreate
) -> Category:
    return await insert(
        session, Category(id=data.id or new_id(), store_id=access.store_id, name=data.name)
    )


async def list_categories(
    session: AsyncSession, access: StoreAccess, page: PageRequest
) -> Page[Category]:
    return await repository.categories_page(session, access.store_id, page)


async def _category(session: AsyncSession, access: StoreAccess, category_id: uuid.UUID) -> Category:
    category = await repository.live_category(session, access.store_id, category_id)
    if category is None:
        raise NotFound("The category does not exist.", code="category_not_found")
    return category


async def update_category(
    session: AsyncSession, access: StoreAccess, category_id: uuid.UUID, patch: CategoryUpdate
) -> Category:
    category = await _category(session, access, category_id)
    category.name = patch.name
    await session.flush()
    return category


async def delete_category(
    session: AsyncSession, access: StoreAccess, category_id: uuid.UUID
) -> None:
    category = await _category(session, access, category_id)
    category.deleted_at = utcnow()
    await session.flush()


# Products


@dataclass(frozen=True)
class ProductView:
    product: Product
    stock: int


def _found(row: ProductRow | None, message: str = "The product does not exist.") -> ProductView:
    """The product of `row` with its stock; `404 product_not_found` when there is none."""
    if row is None:
        raise NotFound(message, code="product_not_found")
    return ProductView(row[0], row[1])


def _content(product: Product) -> dict[str, Any]:
    return {
        "barcode": product.barcode,
        "name": product.name,
        "category_id": product.category_id,
        "unit_price": product.unit_price,
        "safety_stock": product.safety_stock,
        "deleted": product.deleted_at is not None,
    }


async def _check_category(
    session: AsyncSession, store_id: uuid.UUID, category_id: uuid.UUID | None
) -> None:
    if (
        category_id is not None
        and await repository.live_category(session, store_id, category_id) is None
    ):
        raise InvalidInput("The category does not exist in this store.", code="unknown_category")


async def _check_barcode_free(
    session: AsyncSession, store_id: uuid.UUID, barcode: str, owner: uuid.UUID | None
) -> None:
    holder = await repository.live_barcode_owner(session, store_id, barcode)
    if holder is not None and holder != owner:
        raise Conflict("Another product in this store has this barcode.", code="barcode_taken")


async def create_product(
    session: AsyncSession, access: StoreAccess, data: ProductCreate
) -> tuple[ProductView, bool]:
    """Create a product (and its zero stock). Re-sending the same id and content returns the
    existing product (`created` is False); the same id with other content is `409`."""
    fields = data.model_dump(exclude={"id", "updated_at"})
    if data.id is not None and (existing := await session.get(Product, data.id)) is not None:
        if existing.store_id == access.store_id and _content(existing) == {
            **fields,
            "deleted": False,
        }:
            return await get_product(session, access, existing.id), False
        raise Conflict("A product with this id already exists.", code="id_conflict")
    await _check_category(session, access.store_id, data.category_id)
    await _check_barcode_free(session, access.store_id, data.barcode, None)
    product = Product(
        id=data.id or new_id(),
        store_id=access.store_id,
        updated_at=data.updated_at or utcnow(),
        updated_by=SERVER_DEVICE,
        **fields,
    )
    product.version_digest = product_digest(_content(product))
    await insert(session, product)
    await insert(session, CurrentStock(product_id=product.id, store_id=access.store_id, quantity=0))
    return ProductView(product, 0), True


async def get_product(
    session: AsyncSession, access: StoreAccess, product_id: uuid.UUID
) -> ProductView:
    return _found(await repository.product_in_store(session, access.store_id, product_id))


async def get_product_by_barcode(
    session: AsyncSession, access: StoreAccess, barcode: str
) -> ProductView:
    row = await repository.product_by_barcode(session, access.store_id, barcode)
    return _found(row, "No product has this barcode.")


async def list_products(
    session: AsyncSession,
    access: StoreAccess,
    filters: ProductFilter,
    page: PageRequest,
) -> Page[ProductView]:
    rows = await repository.products_page(session, access.store_id, filters, page)
    return rows.map(lambda row: ProductView(row[0], row[1]))


async def update_product(
    session: AsyncSession, access: StoreAccess, product_id: uuid.UUID, patch: ProductUpdate
) -> ProductView:
    row = await repository.product_in_store(session, access.store_id, product_id, for_update=True)
    found = _found(row)
    product = found.product
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("barcode") not in (None, product.barcode):
        await _check_barcode_free(session, access.store_id, changes["barcode"], product.id)
    if "category_id" in changes:
        await _check_category(session, access.store_id, changes["category_id"])
    for field, value in changes.items():
        if value is not None or field == "category_id":
            setattr(product, field, value)
    _touch(product)
    await session.flush()
    return found


def _touch(product: Product) -> None:
    """Stamp an online edit as the product's newest version for last-write-wins."""
    product.updated_at = max(utcnow(), product.updated_at)
    product.updated_by = SERVER_DEVICE
    product.version_digest = product_digest(_content(product))
    product.synced_at = utcnow()


async def delete_product(session: AsyncSession, access: StoreAccess, product_id: uuid.UUID) -> None:
    row = await repository.product_in_store(session, access.store_id, product_id, for_update=True)
    product = _found(row).product
    product.deleted_at = utcnow()
    _touch(product)
    await session.flush()
