"""Stock sync routes: the offline batch (`POST /sync`), the change feed (`GET /sync/changes`)
and the snapshot a new device starts from (`GET /sync/snapshot`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter

from ensemble.apps.stock.auth import CurrentUser, authorize_store
from ensemble.apps.stock.domain import ChangePosition
from ensemble.apps.stock.schemas import (
    IN_STORE,
    PREFIX,
    CategoryPublic,
    ChangesResponse,
    SnapshotCategory,
    SnapshotEnd,
    SnapshotProduct,
    SnapshotStock,
    SyncRequest,
    SyncResponse,
    TransactionPublic,
    errors,
    product_public,
    stock_public,
)
from ensemble.apps.stock.sync import service
from ensemble.kernel.db import Database, SessionDep, get_database
from ensemble.kernel.edge import max_body
from ensemble.kernel.schemas import IntegerLiteral
from ensemble.kernel.streaming import accepts_gzip, gzipped, started

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


NDJSON = "application/x-ndjson"
_SNAPSHOT_LINE = {  # each line's shape, inline: the line models are flat (no `$defs`)
    "oneOf": [
        TypeAdapter(line).json_schema()
        for line in (SnapshotCategory, SnapshotProduct, SnapshotStock, SnapshotEnd)
    ]
}


@router.get(
    "/sync/snapshot",
    response_class=StreamingResponse,
    response_description="The store as NDJSON, one JSON object a line (`kind`: `category`,"
    " `product` or `stock`), ending with one `end` line carrying the change-feed cursor."
    " Gzip-compressed when the request accepts gzip.",
    responses={200: {"content": {NDJSON: {"schema": _SNAPSHOT_LINE}}}},
)
async def bootstrap(
    store_id: uuid.UUID,
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    database: Annotated[Database, Depends(get_database)],
) -> StreamingResponse:
    """The whole store in one consistent snapshot, for a new device: then pull
    `GET /sync/changes` from the `cursor` of the last line until `has_more` is false.

    Together they are exact: a change the snapshot sends is never sent again by the feed
    from that cursor, and a change it leaves out (committed during or after it, or by a
    transaction still running when it began) comes through the feed. Lines carry current
    state (categories, products with their stock, stock rows, soft-deleted ones included;
    no movement history) in the shapes `GET /sync/changes` serves them, in no particular
    order: apply each as an upsert by id. A body without its `end` line was cut off: start
    again."""
    access = await authorize_store(request, session, principal, store_id)
    body = await started(service.snapshot(database.engine, access.store_id))
    headers = {"Vary": "Accept-Encoding"}
    if accepts_gzip(request.headers.get("accept-encoding")):
        body = gzipped(body)
        headers["Content-Encoding"] = "gzip"
    return StreamingResponse(body, media_type=NDJSON, headers=headers)
