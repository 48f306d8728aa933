"""Stock sync routes: the offline batch (`POST /sync`) and the change feed (`GET /sync/changes`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from ensemble.apps.stock.auth import CurrentUser, authorize_store
from ensemble.apps.stock.domain import ChangePosition
from ensemble.apps.stock.schemas import (
    IN_STORE,
    PREFIX,
    CategoryPublic,
    ChangesResponse,
    SyncRequest,
    SyncResponse,
    TransactionPublic,
    errors,
    product_public,
    stock_public,
)
from ensemble.apps.stock.sync import service
from ensemble.kernel.db import SessionDep
from ensemble.kernel.edge import max_body
from ensemble.kernel.schemas import IntegerLiteral

router = APIRouter(prefix=PREFIX, tags=["sync"], responses=errors(*IN_STORE))

SYNC_MAX_BODY_BYTES = 8 * 2**20
"""A full batch (`MAX_SYNC_RECORDS` records) runs past the default body limit."""


@router.post("/sync", openapi_extra=max_body(SYNC_MAX_BODY_BYTES))
async def push(
    body: SyncRequest, request: Request, principal: CurrentUser, session: SessionDep
) -> SyncResponse:
    """Apply a batch of offline records; every record gets a verdict. Safe to re-send.

    Records are applied in `occurred_at` / `updated_at` order. Products: last write wins on
    `updated_at`, ties to the larger `device_id`. An offline `OUT` that takes stock below
    zero is still **applied** (the goods are already gone), also in a store that does not
    allow negative stock, and its result carries `reason: "negative_stock"` so the device
    can warn. Nothing is dropped silently: each record is `applied`, `duplicate`,
    `superseded` or `rejected` with a reason."""
    access = await authorize_store(request, session, principal, body.store_id)
    results = await service.apply_batch(session, access, body)
    resume = ChangePosition.decode(body.cursor)  # validated: a bad cursor is a 422
    return SyncResponse(results=results, cursor=resume.encode())


@router.get("/sync/changes")
async def pull(
    store_id: uuid.UUID,
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=1000), IntegerLiteral] = 500,
) -> ChangesResponse:
    """Everything changed in the store after `cursor`; never skips a late-committing change."""
    access = await authorize_store(request, session, principal, store_id)
    changes = await service.changes_since(
        session, access.store_id, ChangePosition.decode(cursor), limit
    )
    return ChangesResponse(
        store_id=store_id,
        categories=[CategoryPublic.model_validate(c) for c in changes.categories],
        products=[product_public(p, stock) for p, stock in changes.products],
        transactions=[TransactionPublic.model_validate(t) for t in changes.transactions],
        stock=[stock_public(s, safety) for s, safety in changes.stock],
        cursor=changes.cursor.encode(),
        has_more=changes.has_more,
    )
