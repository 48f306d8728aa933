"""The async engine and session factory of one PostgreSQL database.

Connections are not pinged on checkout by default (with asyncpg that costs three round trips
per request); a connection that died is discarded on its first error and connections are
recycled every five minutes. `DB_POOL_PRE_PING=true` trades that speed for never handing out a
dead connection after a database restart.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[object]]
_AFTER_COMMIT = "ensemble.after_commit"


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the session's transaction has committed (in a request, before
    the response goes; in a job or `unit_of_work`, before the block returns); never if it
    rolls back. For what must follow a commit at once and may be lost with the process (a
    live notice whose state a client can always re-read): durable work goes to an outbox."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def take_after_commit(session: AsyncSession) -> list[AfterCommit]:
    """The callbacks registered on the session, which forgets them."""
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    return callbacks


async def run_after_commit(callbacks: list[AfterCommit]) -> None:
    """Run each callback; one that fails is logged and the others still run (the commit
    already happened: its caller must not see an error)."""
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            logger.exception("after-commit callback %r failed", callback)


@dataclass
class Database:
    url: str
    pool_size: int = 20
    max_overflow: int = 10
    pre_ping: bool = False
    engine: AsyncEngine = field(init=False)
    sessionmaker: async_sessionmaker[AsyncSession] = field(init=False)

    def __post_init__(self) -> None:
        self.engine = create_async_engine(
            self.url,
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            pool_pre_ping=self.pre_ping,
            pool_recycle=300,
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits once at the end, or rolls back on any error.

        Commit and close take one trip into SQLAlchemy's synchronous core (a greenlet)
        instead of two, and no task to shield the close: a measurable share of the client's
        CPU per transaction. On an error the session is closed (which rolls back) as
        `async with session` closes it: to the end, even if the caller is cancelled meanwhile.
        Callbacks registered with `after_commit` run once the commit succeeded.
        """
        session = self.sessionmaker()
        try:
            yield session
            callbacks = take_after_commit(session)
            await session.run_sync(commit_and_close)
        except BaseException:
            async with session:
                pass
            raise
        await run_after_commit(callbacks)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def commit_and_close(session: Session) -> None:
    """Commit, then close (also when the commit fails), in SQLAlchemy's synchronous core."""
    try:
        session.commit()
    finally:
        session.close()


def rollback_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()
