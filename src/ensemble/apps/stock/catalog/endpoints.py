"""Stock catalog routes: categories and products of a store."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ensemble.apps.stock.auth import StoreAdmin, StoreMember
from ensemble.apps.stock.catalog import service
from ensemble.apps.stock.repository import ProductFilter
from ensemble.apps.stock.schemas import (
    IN_STORE,
    PREFIX,
    CategoryCreate,
    CategoryPublic,
    CategoryUpdate,
    ProductCreate,
    ProductPublic,
    ProductUpdate,
    errors,
    product_public,
)
from ensemble.kernel.db import SessionDep
from ensemble.kernel.pagination import Page, PageDep

_NAME_TAKEN = "Another live category of the store has this name"

router = APIRouter(prefix=PREFIX, tags=["catalog"])


def _product(view: service.ProductView) -> ProductPublic:
    return product_public(view.product, view.stock)


@router.get("/stores/{store_id}/categories", responses=errors(*IN_STORE))
async def list_categories(
    access: StoreMember, session: SessionDep, page: PageDep
) -> Page[CategoryPublic]:
    rows = await service.list_categories(session, access, page)
    return rows.map(CategoryPublic.model_validate)


@router.post(
    "/stores/{store_id}/categories",
    status_code=status.HTTP_201_CREATED,
    responses=errors(*IN_STORE, (409, f"{_NAME_TAKEN}, or a category has this id (`conflict`)")),
)
async def create_category(
    body: CategoryCreate, access: StoreAdmin, session: SessionDep
) -> CategoryPublic:
    return CategoryPublic.model_validate(await service.create_category(session, access, body))


@router.patch(
    "/stores/{store_id}/categories/{category_id}",
    responses=errors(*IN_STORE, (409, f"{_NAME_TAKEN} (`conflict`)")),
)
async def update_category(
    category_id: uuid.UUID, body: CategoryUpdate, access: StoreAdmin, session: SessionDep
) -> CategoryPublic:
    category = await service.update_category(session, access, category_id, body)
    return CategoryPublic.model_validate(category)


@router.delete(
    "/stores/{store_id}/categories/{category_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*IN_STORE),
)
async def delete_category(
    category_id: uuid.UUID, access: StoreAdmin, session: SessionDep
) -> Response:
    await service.delete_category(session, access, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Products


@router.get("/stores/{store_id}/products", responses=errors(*IN_STORE))
async def list_products(
    access: StoreMember,
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Name or barcode prefix")] = None,
    category_id: uuid.UUID | None = None,
    low_stock: bool | None = None,
) -> Page[ProductPublic]:
    filters = ProductFilter(query=q, category_id=category_id, low_stock=low_stock)
    return (await service.list_products(session, access, filters, page)).map(_product)


@router.post(
    "/stores/{store_id}/products",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ProductPublic, "description": "Same id re-sent: nothing changed"},
        **errors(
            *IN_STORE,
            (409, "The barcode is taken (`barcode_taken`) or the id is (`id_conflict`)"),
        ),
    },
)
async def create_product(
    body: ProductCreate, access: StoreMember, session: SessionDep, response: Response
) -> ProductPublic:
    view, created = await service.create_product(session, access, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _product(view)


@router.get("/stores/{store_id}/products/barcode/{barcode}", responses=errors(*IN_STORE))
async def read_product_by_barcode(
    barcode: str, access: StoreMember, session: SessionDep
) -> ProductPublic:
    return _product(await service.get_product_by_barcode(session, access, barcode))


@router.get("/stores/{store_id}/products/{product_id}", responses=errors(*IN_STORE))
async def read_product(
    product_id: uuid.UUID, access: StoreMember, session: SessionDep
) -> ProductPublic:
    return _product(await service.get_product(session, access, product_id))


@router.patch(
    "/stores/{store_id}/products/{product_id}",
    responses=errors(*IN_STORE, (409, "The barcode is taken (`barcode_taken`)")),
)
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, access: StoreMember, session: SessionDep
) -> ProductPublic:
    """Edit a product now. For last-write-wins the edit is stamped with the server's clock and
    no device id, so a device's offline edit stamped later still wins, as does one stamped
    at the very same instant (any device id is larger than none)."""
    return _product(await service.update_product(session, access, product_id, body))


@router.delete(
    "/stores/{store_id}/products/{product_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*IN_STORE),
)
async def delete_product(
    product_id: uuid.UUID, access: StoreAdmin, session: SessionDep
) -> Response:
    """Soft delete: the product disappears from lists; its history stays."""
    await service.delete_product(session, access, product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
