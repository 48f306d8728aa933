"""Actions use cases: recording actions (one at a time in a caller's transaction, or grouped
with concurrent requests into one multi-row INSERT and one COMMIT), each with its
`casino.action` event in the outbox; the action types; a member's recent actions.

One statement writes a group: the actions whose type is known, their events and the relay's
wake-up (`_RECORD`). An unknown type is simply not written (the statement joins the types
table), so a type an admin just added is known at once, with no cache to go stale.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.actions.domain import strip_personal
from ensemble.apps.casino.actions.models import Action, ActionType
from ensemble.apps.casino.events import AGGREGATE_ACTION, ActionRecorded
from ensemble.kernel.db import Database, new_id, utcnow
from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.errors import Conflict, InvalidInput
from ensemble.kernel.events.outbox import TABLE as OUTBOX
from ensemble.kernel.events.outbox import WAKE_RELAY
from ensemble.kernel.observability.context import current_request_context
from ensemble.kernel.pagination import Page, PageRequest, newest_first

MAX_BATCH = 1000
"""The most actions one group commits."""


class UnknownActionType(InvalidInput):
    code = "unknown_action_type"
    message = "No such action type."


class ActionTypeExists(Conflict):
    code = "action_type_exists"
    message = "This action type exists already."


@dataclass(frozen=True)
class NewAction:
    """An action to record: its context already stripped (see `new_action`)."""

    user_id: uuid.UUID
    action_type: str
    context: dict[str, Any]
    id: uuid.UUID = field(default_factory=new_id)
    event_id: uuid.UUID = field(default_factory=new_id)
    created_at: datetime = field(default_factory=utcnow)
    trace_id: str | None = None
    request_id: str | None = None


def new_action(user_id: uuid.UUID, action_type: str, context: dict[str, Any]) -> NewAction:
    """The action of a member now, with personal data stripped from its context and the
    running request's trace and request ids for its event."""
    running = current_request_context()
    return NewAction(
        user_id=user_id,
        action_type=action_type,
        context=strip_personal(context),
        trace_id=running.trace_id,
        request_id=running.request_id,
    )


_RECORD = f"""
WITH given AS (
    SELECT * FROM unnest(
        $1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[],
        $6::uuid[], $7::text[], $8::text[]
    ) AS given(id, user_id, action_type, context, created_at, event_id, trace_id, request_id)
), known AS (
    SELECT given.* FROM given JOIN casino.action_types ON action_types.code = given.action_type
), recorded AS (
    INSERT INTO casino.actions (id, user_id, action_type, context, created_at)
    SELECT id, user_id, action_type, context::jsonb, created_at FROM known
    RETURNING id
), published AS (
    INSERT INTO {OUTBOX} (
        event_id, aggregate_type, aggregate_id, type, version, payload, trace_id, request_id,
        occurred_at
    )
    SELECT
        event_id, '{AGGREGATE_ACTION}', user_id::text, '{ActionRecorded.TYPE}',
        {ActionRecorded.VERSION},
        jsonb_build_object(
            'action_id', id, 'user_id', user_id, 'action_type', action_type,
            'context', context::jsonb, 'occurred_at', created_at
        ),
        trace_id, request_id, created_at
    FROM known
    RETURNING 1
)
SELECT
    (SELECT coalesce(array_agg(id), '{{}}') FROM recorded) AS recorded,
    (SELECT {WAKE_RELAY} FROM published LIMIT 1) AS woken
"""
"""Actions of known types, their events and one wake-up of the relay, in one round trip;
answers the ids written."""


async def _write(
    connection: asyncpg.Connection[asyncpg.Record], actions: Sequence[NewAction]
) -> set[uuid.UUID]:
    """Write `actions` in the connection's transaction; the ids of those written (those of a
    known type)."""
    row = await connection.fetchrow(
        _RECORD,
        [each.id for each in actions],
        [each.user_id for each in actions],
        [each.action_type for each in actions],
        [json.dumps(each.context, separators=(",", ":")) for each in actions],
        [each.created_at for each in actions],
        [each.event_id for each in actions],
        [each.trace_id for each in actions],
        [each.request_id for each in actions],
    )
    assert row is not None
    return set(row["recorded"])


async def record_action(
    session: AsyncSession, user_id: uuid.UUID, action_type: str, context: dict[str, Any]
) -> NewAction:
    """Record one action (and its event) in the caller's transaction, its context stripped of
    personal data (422 `unknown_action_type`). For a use case that records an action with
    its own change (a slot spin); the API's `POST /api/actions` groups requests instead."""
    action = new_action(user_id, action_type, context)
    if action.id not in await _write(await transaction_connection(session), [action]):
        raise UnknownActionType(details={"action_type": action_type})
    return action


@dataclass
class _Waiter:
    action: NewAction
    future: asyncio.Future[bool]


class ActionRecorder:
    """Group commit of actions: concurrent `record` calls share one transaction (one
    multi-row INSERT of the actions and of their events, one COMMIT). Each caller returns
    once its group has committed, so an accepted action survives a crash. Actions arriving
    while a group commits form the next group: a lone action waits for nothing, a crowd is
    absorbed in a few groups. One per process (in `CasinoResources`)."""

    def __init__(self, *, max_batch: int = MAX_BATCH) -> None:
        self._max_batch = max_batch
        self._queue: deque[_Waiter] = deque()
        self._drainer: asyncio.Task[None] | None = None

    async def record(self, database: Database, action: NewAction) -> None:
        """Record `action` with the next group (422 `unknown_action_type`). A caller
        cancelled before its group starts records nothing."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiter(action, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(database))
        if not await future:
            raise UnknownActionType(details={"action_type": action.action_type})

    async def wait_idle(self) -> None:
        """Wait until every queued action has been committed or refused."""
        while self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)

    async def _drain(self, database: Database) -> None:
        try:
            while group := self._take():
                await self._commit(database, group)
        finally:
            self._drainer = None
            for waiter in self._queue:  # left over only when the drainer was cancelled
                waiter.future.cancel()
            self._queue.clear()

    def _take(self) -> list[_Waiter]:
        group: list[_Waiter] = []
        while self._queue and len(group) < self._max_batch:
            waiter = self._queue.popleft()
            if not waiter.future.done():
                group.append(waiter)
        return group

    async def _commit(self, database: Database, group: list[_Waiter]) -> None:
        try:
            async with database.unit_of_work() as session:
                connection = await transaction_connection(session)
                written = await _write(connection, [waiter.action for waiter in group])
        except asyncio.CancelledError:
            for waiter in group:
                waiter.future.cancel()
            raise
        except Exception as exc:
            for waiter in group:
                if not waiter.future.done():
                    waiter.future.set_exception(exc)
            return
        for waiter in group:
            if not waiter.future.done():
                waiter.future.set_result(waiter.action.id in written)


# action types


async def action_types(session: AsyncSession) -> Sequence[ActionType]:
    """Every action type, by code (a short reference list: one answer, not pages)."""
    return (await session.scalars(select(ActionType).order_by(ActionType.code))).all()


async def add_action_type(
    session: AsyncSession, code: str, description: str, *, admin_id: uuid.UUID
) -> ActionType:
    """A new action type, usable at once (409 `action_type_exists`)."""
    added: ActionType | None = await session.scalar(
        insert(ActionType)
        .values(code=code, description=description, created_by=admin_id, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(ActionType)
    )
    if added is None:
        raise ActionTypeExists(details={"code": code})
    return added


# history


async def actions_of(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest, *, action_type: str | None
) -> Page[Action]:
    """A member's actions, the newest first (of one type, if given)."""
    query = select(Action).where(Action.user_id == user_id)
    if action_type is not None:
        query = query.where(Action.action_type == action_type)
    return await newest_first(session, query, page, Action.id)
