"""Dead work seen from outside: the consumers' dead letters and the dead jobs, listed and
re-driven together (the admin endpoints and `ensemble dlq`). An item's `kind` says which
(`event` or `job`); its `queue` is the consumer's or the job's name.

Re-driving a dead letter appends its envelope to its stream (or topic) again, through the
event bus, and marks it `reprocessed_at`. Every consumer group of that stream receives it
once more; the ones that had handled it skip it as a duplicate (`processed_events`), so
only the consumer that gave up does the work. Appending happens before the marks commit:
a failure in between sends the envelope again on the next re-drive, which the consumers'
idempotency absorbs. Re-driving a dead job requests it again through the job outbox in
the same transaction (`ensemble.kernel.jobs.dead`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AliasPath, BaseModel, ConfigDict, Field
from redis.asyncio import Redis
from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.events.bus import EventBus, as_bus, event_bus
from ensemble.kernel.events.models import DeadLetter
from ensemble.kernel.identity.principal import PrincipalResolver
from ensemble.kernel.jobs.dead import dead_jobs_after, pending_dead_jobs, redrive_jobs
from ensemble.kernel.jobs.models import TaskFailure
from ensemble.kernel.pagination import Page, PageDep, PageRequest, build_page
from ensemble.kernel.redis import RedisDep

QueueName = Annotated[str, Field(min_length=1, max_length=200)]
Kind = Literal["event", "job"]
KindQuery = Annotated[Kind | None, Query(description="Only dead events or only dead jobs")]


class _DeadView(BaseModel):
    """What a dead letter and a dead job both show (`DeadWork`'s columns)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    error: str
    traceback: str | None
    trace_id: str | None
    attempts: int
    failed_at: datetime
    reprocessed_at: datetime | None


class DeadLetterView(_DeadView):
    """A message a consumer gave up on."""

    kind: Literal["event"] = "event"
    queue: str = Field(validation_alias="consumer", description="the consumer's name")
    stream: str
    event_id: uuid.UUID | None
    envelope: dict[str, Any]


class DeadJobView(_DeadView):
    """A job that failed for good."""

    kind: Literal["job"] = "job"
    queue: str = Field(validation_alias="job", description="the job's name")
    message_id: str
    arguments: dict[str, Any] = Field(
        validation_alias=AliasPath("kwargs"), description="its arguments"
    )
    error_type: str


DeadItem = Annotated[DeadLetterView | DeadJobView, Field(discriminator="kind")]
Dead = DeadLetter | TaskFailure


def view_of(row: Dead) -> DeadLetterView | DeadJobView:
    if isinstance(row, DeadLetter):
        return DeadLetterView.model_validate(row)
    return DeadJobView.model_validate(row)


class ReprocessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: QueueName = Field(description="a consumer's or a job's name")
    count: int = Field(ge=1, le=1000)
    filter_reason: str | None = Field(default=None, min_length=1, max_length=200)
    kind: Kind | None = Field(default=None, description="only dead events or only dead jobs")


class ReprocessResult(BaseModel):
    reprocessed: int
    ids: list[uuid.UUID]


# Dead letters (events)


def _pending(consumer: str | None, filter_reason: str | None) -> Select[DeadLetter]:
    stmt = select(DeadLetter).where(DeadLetter.reprocessed_at.is_(None))
    if consumer is not None:
        stmt = stmt.where(DeadLetter.consumer == consumer)
    if filter_reason is not None:
        stmt = stmt.where(DeadLetter.error.icontains(filter_reason, autoescape=True))
    return stmt.order_by(DeadLetter.id)


async def _letters_after(
    session: AsyncSession, after: uuid.UUID | None, limit: int, consumer: str | None
) -> Sequence[DeadLetter]:
    stmt = _pending(consumer, None).limit(limit)
    if after is not None:
        stmt = stmt.where(DeadLetter.id > after)
    return (await session.execute(stmt)).scalars().all()


async def _redrive_letters(
    session: AsyncSession, bus: EventBus | Redis, letters: Sequence[DeadLetter]
) -> None:
    if not letters:
        return
    await as_bus(bus).redrive(letters)
    marked = (
        update(DeadLetter)
        .where(DeadLetter.id.in_([letter.id for letter in letters]))
        .values(reprocessed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.execute(marked)


async def _lock(session: AsyncSession, stmt: Select[Any], count: int) -> list[Any]:
    locked = stmt.limit(count).with_for_update(skip_locked=True)
    return list((await session.execute(locked)).scalars().all())


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
    letters = await _lock(session, _pending(consumer, filter_reason), count)
    await _redrive_letters(session, bus, letters)
    return letters


# Dead letters and dead jobs together


def _oldest(rows: Sequence[Dead], count: int) -> list[Dead]:
    """The `count` oldest of dead letters and dead jobs (ids are UUID v7: time-ordered)."""
    return sorted(rows, key=lambda row: row.id)[:count]


async def list_dead_work(
    session: AsyncSession,
    page: PageRequest,
    *,
    queue: str | None = None,
    kind: Kind | None = None,
) -> Page[DeadLetterView | DeadJobView]:
    """Dead letters and dead jobs not yet re-driven, oldest first, one page."""
    after, fetch = page.after_id(), page.fetch
    rows: list[Dead] = []
    if kind != "job":
        rows += await _letters_after(session, after, fetch, queue)
    if kind != "event":
        rows += await dead_jobs_after(session, after, fetch, job=queue)
    return build_page(_oldest(rows, fetch), page.limit, lambda row: [row.id], view_of)


async def reprocess_dead_work(
    session: AsyncSession,
    bus: EventBus | Redis,
    *,
    queue: str | None,
    count: int,
    filter_reason: str | None = None,
    kind: Kind | None = None,
) -> list[Dead]:
    """Re-drive up to `count` pending dead letters and dead jobs (of `queue`, whose error
    contains `filter_reason`), oldest first: letters through `bus`, jobs through the job
    outbox; all are marked in the session's transaction."""
    rows: list[Dead] = []
    if kind != "job":
        rows += await _lock(session, _pending(queue, filter_reason), count)
    if kind != "event":
        rows += await _lock(session, pending_dead_jobs(queue, filter_reason), count)
    chosen = _oldest(rows, count)
    await _redrive_letters(session, bus, [row for row in chosen if isinstance(row, DeadLetter)])
    await redrive_jobs(session, [row for row in chosen if isinstance(row, TaskFailure)])
    return chosen


def dlq_router(
    resolver: PrincipalResolver,
    *,
    prefix: str = "/admin/dlq",
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> APIRouter:
    """`GET <prefix>` and `POST <prefix>/reprocess`, for the principals `resolver` admits
    (apps pass their ADMIN resolver): dead letters and dead jobs in one view. A queue is a
    consumer's or a job's name. An app passes its full prefix (not an include's), so each
    route knows its whole path."""
    router = APIRouter(
        prefix=prefix, tags=["admin"], dependencies=[Depends(resolver)], responses=responses
    )

    @router.get("")
    async def list_dlq(
        session: SessionDep,
        page: PageDep,
        queue: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        kind: KindQuery = None,
    ) -> Page[DeadItem]:
        """Dead letters (`kind: event`) and dead jobs (`kind: job`) not yet re-driven,
        oldest first."""
        return await list_dead_work(session, page, queue=queue, kind=kind)

    @router.post("/reprocess")
    async def reprocess_dlq(
        body: ReprocessRequest, session: SessionDep, redis: RedisDep, request: Request
    ) -> ReprocessResult:
        """Re-drive up to `count` dead items of `queue`, oldest first: a dead letter through
        its stream again, a dead job through the job queue."""
        async with event_bus(request.state.settings, redis) as bus:
            chosen = await reprocess_dead_work(
                session,
                bus,
                queue=body.queue,
                count=body.count,
                filter_reason=body.filter_reason,
                kind=body.kind,
            )
        return ReprocessResult(reprocessed=len(chosen), ids=[row.id for row in chosen])

    return router
