"""The dead-letter store seen from outside: listing, re-driving, admin endpoints.

Re-driving appends a dead letter's envelope to its stream (or topic) again, through the
event bus, and marks it `reprocessed_at`. Every consumer group of that stream receives it
once more; the ones that had handled it skip it as a duplicate (`processed_events`), so
only the consumer that gave up does the work. Appending happens before the marks commit:
a failure in between sends the envelope again on the next re-drive, which the consumers'
idempotency absorbs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis
from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.events.bus import EventBus, as_bus, event_bus
from ensemble.kernel.events.models import DeadLetter
from ensemble.kernel.identity.principal import PrincipalResolver
from ensemble.kernel.pagination import Page, PageDep, PageRequest, build_page
from ensemble.kernel.redis import RedisDep

QueueName = Annotated[str, Field(min_length=1, max_length=200)]


class DeadLetterView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    queue: str = Field(validation_alias="consumer")
    stream: str
    event_id: uuid.UUID | None
    envelope: dict[str, Any]
    error: str
    traceback: str | None
    trace_id: str | None
    attempts: int
    failed_at: datetime
    reprocessed_at: datetime | None


class ReprocessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: QueueName
    count: int = Field(ge=1, le=1000)
    filter_reason: str | None = Field(default=None, min_length=1, max_length=200)


class ReprocessResult(BaseModel):
    reprocessed: int
    ids: list[uuid.UUID]


def _pending(consumer: str | None, filter_reason: str | None) -> Select[DeadLetter]:
    stmt = select(DeadLetter).where(DeadLetter.reprocessed_at.is_(None))
    if consumer is not None:
        stmt = stmt.where(DeadLetter.consumer == consumer)
    if filter_reason is not None:
        stmt = stmt.where(DeadLetter.error.icontains(filter_reason, autoescape=True))
    return stmt


async def list_dead_letters(
    session: AsyncSession, page: PageRequest, *, consumer: str | None = None
) -> Page[DeadLetterView]:
    """Dead letters not yet re-driven, oldest first, one page."""
    stmt = _pending(consumer, None).order_by(DeadLetter.id).limit(page.limit + 1)
    after = page.after_id()
    if after is not None:
        stmt = stmt.where(DeadLetter.id > after)
    rows = (await session.execute(stmt)).scalars().all()
    return build_page(rows, page.limit, lambda row: [row.id], DeadLetterView.model_validate)


async def reprocess(
    session: AsyncSession,
    bus: EventBus | Redis,
    *,
    consumer: str | None = None,
    count: int,
    filter_reason: str | None = None,
) -> Sequence[DeadLetter]:
    """Re-drive up to `count` pending dead letters (of `consumer`, whose error contains
    `filter_reason`), oldest first, on `bus` (a Redis client: its streams); they are marked
    in the session's transaction."""
    stmt = _pending(consumer, filter_reason).order_by(DeadLetter.id).limit(count)
    letters = (await session.execute(stmt.with_for_update(skip_locked=True))).scalars().all()
    if not letters:
        return letters
    await as_bus(bus).redrive(letters)
    marked = (
        update(DeadLetter)
        .where(DeadLetter.id.in_([letter.id for letter in letters]))
        .values(reprocessed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.execute(marked)
    return letters


def dlq_router(resolver: PrincipalResolver) -> APIRouter:
    """`GET /admin/dlq` and `POST /admin/dlq/reprocess`, for the principals `resolver` admits
    (apps pass their ADMIN resolver). A queue is a consumer's name."""
    router = APIRouter(prefix="/admin/dlq", tags=["admin"], dependencies=[Depends(resolver)])

    @router.get("")
    async def list_dlq(
        session: SessionDep,
        page: PageDep,
        queue: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    ) -> Page[DeadLetterView]:
        """Dead letters not yet re-driven, oldest first."""
        return await list_dead_letters(session, page, consumer=queue)

    @router.post("/reprocess")
    async def reprocess_dlq(
        body: ReprocessRequest, session: SessionDep, redis: RedisDep, request: Request
    ) -> ReprocessResult:
        """Send up to `count` dead letters of `queue` through their stream again."""
        async with event_bus(request.state.settings, redis) as bus:
            letters = await reprocess(
                session,
                bus,
                consumer=body.queue,
                count=body.count,
                filter_reason=body.filter_reason,
            )
        return ReprocessResult(reprocessed=len(letters), ids=[letter.id for letter in letters])

    return router
