"""The hand-written floor: Stock's barcode lookup and stock move, written the obvious way.

FastAPI + an asyncpg pool + PyJWT + Pydantic response models, nothing else: no ORM, no
middleware, no logs, metrics or traces, no revocation check. It verifies the same Stock
access tokens (HS256, audience `stock`), reads the caller's role, activity and store
assignment in one query, then runs the endpoint's SQL. `bench/floor.py` serves it with
`uvicorn bench.floor_app:app` (uvloop and httptools, as uvicorn picks them) next to
`ensemble serve` on the same database, to measure what ensemble's extras cost.

Settings come from the environment: `FLOOR_DSN` (a plain postgresql:// URL) and
`FLOOR_SECRET` (the signing key the ensemble server uses).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Literal

import asyncpg
import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

CALLER_SQL = """
SELECT u.role::text AS role, u.is_active, s.id IS NOT NULL AS store_exists,
       s.allow_negative_stock,
       EXISTS (SELECT 1 FROM stock.user_stores us
               WHERE us.user_id = u.id AND us.store_id = $2) AS assigned
FROM stock.users u LEFT JOIN stock.stores s ON s.id = $2
WHERE u.id = $1
"""
LOOKUP_SQL = """
SELECT p.id, p.store_id, p.barcode, p.name, p.category_id, p.unit_price, p.safety_stock,
       coalesce(s.quantity, 0) AS stock, p.created_at, p.updated_at, p.deleted_at
FROM stock.products p LEFT JOIN stock.current_stock s ON s.product_id = p.id
WHERE p.store_id = $1 AND p.barcode = $2 AND p.deleted_at IS NULL
"""
INSERT_SQL = """
INSERT INTO stock.inventory_transactions
    (id, store_id, product_id, type, quantity, delta, reason, occurred_at, created_at,
     synced_at, user_id)
VALUES ($1, $2, $3, $4::stock.transaction_type, $5, $6, $7, now(), now(), now(), $8)
RETURNING id, store_id, product_id, type::text AS type, quantity, delta, reason, occurred_at,
          created_at, synced_at, device_id, user_id
"""
UPDATE_SQL = """
UPDATE stock.current_stock c SET quantity = c.quantity + $2, updated_at = now()
FROM stock.products p
WHERE c.product_id = $1 AND p.id = c.product_id AND (c.quantity + $2 >= 0 OR $3)
RETURNING c.product_id, c.store_id, c.quantity, p.safety_stock, c.updated_at
"""


class Product(BaseModel):
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


class MoveIn(BaseModel):
    product_id: uuid.UUID
    type: Literal["IN", "OUT"]
    quantity: int = Field(gt=0, le=1_000_000)
    reason: str | None = Field(default=None, max_length=500)


class TransactionOut(BaseModel):
    id: uuid.UUID
    store_id: uuid.UUID
    product_id: uuid.UUID
    type: str
    quantity: int
    delta: int
    reason: str | None
    occurred_at: datetime
    created_at: datetime
    synced_at: datetime
    device_id: str | None
    user_id: uuid.UUID | None


class StockOut(BaseModel):
    product_id: uuid.UUID
    store_id: uuid.UUID
    quantity: int
    safety_stock: int
    is_low: bool
    updated_at: datetime


class Recorded(BaseModel):
    transaction: TransactionOut
    stock: StockOut


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["FLOOR_DSN"], min_size=8, max_size=8)
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)
bearer = HTTPBearer()


class Caller(BaseModel):
    user_id: uuid.UUID
    allow_negative_stock: bool


async def store_caller(
    store_id: uuid.UUID,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
) -> Caller:
    """The caller of a store route: a valid token of an active user admitted to the store."""
    try:
        claims = jwt.decode(
            credentials.credentials,
            os.environ["FLOOR_SECRET"],
            algorithms=["HS256"],
            audience="stock",
        )
    except jwt.PyJWTError as exc:
        raise HTTPException(401, "invalid token") from exc
    user_id = uuid.UUID(claims["sub"])
    row = await request.app.state.pool.fetchrow(CALLER_SQL, user_id, store_id)
    if row is None or not row["is_active"]:
        raise HTTPException(401, "account disabled")
    if row["role"] != "ADMIN" and not row["assigned"]:
        raise HTTPException(403, "not assigned to this store")
    if not row["store_exists"]:
        raise HTTPException(404, "no such store")
    return Caller(user_id=user_id, allow_negative_stock=row["allow_negative_stock"])


StoreCaller = Annotated[Caller, Depends(store_caller)]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/v1/stores/{store_id}/products/barcode/{barcode}")
async def product_by_barcode(
    store_id: uuid.UUID, barcode: str, caller: StoreCaller, request: Request
) -> Product:
    row = await request.app.state.pool.fetchrow(LOOKUP_SQL, store_id, barcode)
    if row is None:
        raise HTTPException(404, "no such product")
    return Product(**row, is_low=row["stock"] <= row["safety_stock"])


@app.post("/api/v1/stores/{store_id}/inventory/transactions", status_code=201)
async def record_transaction(
    store_id: uuid.UUID, body: MoveIn, caller: StoreCaller, request: Request
) -> Recorded:
    delta = body.quantity if body.type == "IN" else -body.quantity
    allow_negative = caller.allow_negative_stock or delta >= 0
    async with request.app.state.pool.acquire() as connection, connection.transaction():
        logged = await connection.fetchrow(
            INSERT_SQL, uuid.uuid4(), store_id, body.product_id, body.type, body.quantity,
            delta, body.reason, caller.user_id,
        )  # fmt: skip
        moved = await connection.fetchrow(UPDATE_SQL, body.product_id, delta, allow_negative)
        if moved is None:
            raise HTTPException(409, "insufficient stock")
    stock = StockOut(**moved, is_low=moved["quantity"] <= moved["safety_stock"])
    return Recorded(transaction=TransactionOut(**logged), stock=stock)
