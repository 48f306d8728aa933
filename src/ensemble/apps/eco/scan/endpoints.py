"""ECO² scan routes: parse, authorize, call the use case, shape the response."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, status

from ensemble.apps.eco import read_models
from ensemble.apps.eco.auth import CurrentUser
from ensemble.apps.eco.scan import service
from ensemble.apps.eco.schemas import (
    INPUT,
    OWNED,
    PREFIX,
    USER,
    ClassifyAccepted,
    ClassifyRequest,
    ScanHistoryItem,
    ScanTask,
    errors,
)
from ensemble.kernel.db import SessionDep
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.redis import RedisDep
from ensemble.kernel.schemas import Extended

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]

router = APIRouter(prefix=PREFIX, tags=["scan"])


@router.post(
    "/scan/classify",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(
        *INPUT, (409, "The Idempotency-Key was used with another body (`idempotency_key_reused`)")
    ),
)
async def classify(
    body: ClassifyRequest,
    user: CurrentUser,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> ClassifyAccepted:
    """Start classifying (answers at once); the same `Idempotency-Key` returns the same task."""
    found = await service.request(
        session,
        user_id=user.account_id,
        body=body,
        idempotency_key=idempotency_key,
    )
    return ClassifyAccepted.model_validate(found)


@router.get("/scan/tasks/{task_id}", responses=errors(*OWNED))
async def scan_task(task_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ScanTask:
    """`processing`, then `completed` (category, guide, confidence, reward) or `failed`."""
    found = await service.task_of(session, user.account_id, task_id)
    rewarded = found.reward_status is not None  # the row's `reward_*` columns are its reward
    return ScanTask.model_validate(Extended(found, reward=found if rewarded else None))


@router.get("/scan/history", responses=errors(*INPUT))
async def scan_history(user: CurrentUser, page: PageDep, redis: RedisDep) -> Page[ScanHistoryItem]:
    """The caller's scans, newest first (read model)."""
    return await read_models.scan_history(redis, user.account_id, page)


@router.get("/scan/stats", responses=errors(*USER))
async def scan_stats(user: CurrentUser, redis: RedisDep) -> dict[str, int]:
    """Counters of the caller's scans (read model): requested, completed, failed, rewarded,
    compensated, and `category:<code>` per category."""
    return await read_models.scan_stats(redis, user.account_id)
