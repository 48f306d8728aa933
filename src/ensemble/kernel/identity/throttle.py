"""Throttling by key in fixed windows, counted atomically in PostgreSQL.

`charge` counts one attempt on each key and reads the new counts back in the same statement
(`INSERT … ON CONFLICT DO UPDATE … RETURNING`): parallel attempts each get a distinct count,
so no more than the limit ever pass, however many arrive at once. It runs in its own short
transaction, before the caller touches the database: the count stands whatever the request
does next, and a key's row is locked for one statement, never across a password hash.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Interval, case, delete, func, type_coerce, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from ensemble.kernel.errors import TooManyRequests
from ensemble.kernel.identity.models import ThrottleCounter
from ensemble.kernel.jobs.definition import job


@dataclass(frozen=True)
class Limit:
    """At most `attempts` charges on `key` per window."""

    key: str
    attempts: int


def _engine(session: AsyncSession) -> AsyncEngine:
    bind = session.bind
    if isinstance(bind, AsyncConnection):
        return bind.engine
    if not isinstance(bind, AsyncEngine):
        raise RuntimeError("a throttled session must be bound to an engine")
    return bind


def _charge_statement(
    realm: str, keys: Sequence[str], window: timedelta
) -> ReturningInsert[str, int, timedelta]:
    counter = ThrottleCounter
    stmt = insert(counter).values(
        [{"realm": realm, "key": key, "window_started_at": func.now(), "count": 1} for key in keys]
    )
    expired = counter.window_started_at <= func.now() - window
    return stmt.on_conflict_do_update(
        index_elements=[counter.realm, counter.key],
        set_={
            "count": case((expired, 1), else_=counter.count + 1),
            "window_started_at": case(
                (expired, stmt.excluded.window_started_at), else_=counter.window_started_at
            ),
        },
    ).returning(
        counter.key,
        counter.count.label("attempts"),
        type_coerce(counter.window_started_at + window - func.now(), Interval).label("remaining"),
    )


async def charge(
    session: AsyncSession,
    *,
    realm: str,
    limits: Sequence[Limit],
    window: timedelta,
    code: str,
    message: str,
) -> None:
    """Count one attempt on every key of `limits`; 429 `code` if any key is now past its limit.

    Call it before the request's first statement (it borrows a second pooled connection
    otherwise)."""
    allowed = {limit.key: limit.attempts for limit in limits}
    async with _engine(session).begin() as connection:
        rows = (await connection.execute(_charge_statement(realm, sorted(allowed), window))).all()
    waits = [row.remaining for row in rows if row.attempts > allowed[row.key]]
    if waits:
        retry_after = max(1, math.ceil(max(waits).total_seconds()))
        raise TooManyRequests(message, code=code, headers={"Retry-After": str(retry_after)})


async def forgive(
    session: AsyncSession, *, realm: str, reset: str, refund: Sequence[str] = ()
) -> None:
    """After a success: forget the attempts on `reset` and give back this one on `refund`."""
    await session.execute(
        delete(ThrottleCounter).where(ThrottleCounter.realm == realm, ThrottleCounter.key == reset)
    )
    if refund:
        await session.execute(
            update(ThrottleCounter)
            .where(ThrottleCounter.realm == realm, ThrottleCounter.key.in_(refund))
            .values(count=func.greatest(ThrottleCounter.count - 1, 0))
        )


@job("identity.prune_throttle_counters", every=timedelta(hours=1))
async def prune_throttle_counters(session: AsyncSession) -> None:
    """Forget counters whose window started over a day ago (windows are at most a day)."""
    stale = ThrottleCounter.window_started_at < func.now() - timedelta(days=1)
    await session.execute(delete(ThrottleCounter).where(stale))
