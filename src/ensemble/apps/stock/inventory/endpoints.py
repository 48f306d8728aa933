"""Stock inventory routes: stock movements (the log) and current stock."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from ensemble.apps.stock.auth import StoreMember
from ensemble.apps.stock.inventory import service
from ensemble.apps.stock.models import TransactionType
from ensemble.apps.stock.repository import TransactionFilter
from ensemble.apps.stock.schemas import (
    IN_STORE,
    PREFIX,
    StockPublic,
    TransactionCreate,
    TransactionPublic,
    TransactionRecorded,
    errors,
    stock_public,
)
from ensemble.kernel.db import SessionDep
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Instant

router = APIRouter(prefix=PREFIX, tags=["inventory"])


def _stock(view: service.StockView) -> StockPublic:
    return stock_public(view.stock, view.safety_stock)


@router.post(
    "/stores/{store_id}/inventory/transactions",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": TransactionRecorded, "description": "Same id re-sent: nothing applied"},
        **errors(
            *IN_STORE,
            (
                409,
                "Stock would go below zero in a store that does not allow it"
                " (`insufficient_stock`), or the id holds another movement (`id_conflict`)",
            ),
        ),
    },
)
async def record_transaction(
    body: TransactionCreate, access: StoreMember, session: SessionDep, response: Response
) -> TransactionRecorded:
    recorded = await service.record_transaction(session, access, body)
    if not recorded.created:
        response.status_code = status.HTTP_200_OK
    return TransactionRecorded(
        transaction=TransactionPublic.model_validate(recorded.transaction),
        stock=_stock(recorded.stock),
    )


@router.get("/stores/{store_id}/inventory/transactions", responses=errors(*IN_STORE))
async def list_transactions(
    access: StoreMember,
    session: SessionDep,
    page: PageDep,
    product_id: uuid.UUID | None = None,
    type: TransactionType | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> Page[TransactionPublic]:
    """The append-only log, newest first."""
    filters = TransactionFilter(product_id=product_id, type=type, since=since, until=until)
    rows = await service.list_transactions(session, access, filters, page)
    return rows.map(TransactionPublic.model_validate)


@router.get("/stores/{store_id}/inventory/stock", responses=errors(*IN_STORE))
async def list_stock(
    access: StoreMember, session: SessionDep, page: PageDep, low_only: bool = False
) -> Page[StockPublic]:
    return (await service.list_stock(session, access, low_only, page)).map(_stock)


@router.get("/stores/{store_id}/inventory/stock/{product_id}", responses=errors(*IN_STORE))
async def read_stock(
    product_id: uuid.UUID, access: StoreMember, session: SessionDep
) -> StockPublic:
    return _stock(await service.get_stock(session, access, product_id))
