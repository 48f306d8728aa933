"""The request owns the transaction: one session per request, one commit at the end.

The dependency runs with `scope="function"`, so the commit happens before the response is
sent: a failing commit becomes an error response, never a silent 2xx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db.engine import (
    Database,
    commit_and_close,
    rollback_and_close,
    run_after_commit,
    take_after_commit,
)
from ensemble.kernel.errors import AppError


async def get_database(request: Request) -> Database:
    database: Database = request.state.database
    return database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.state.database
    session = database.sessionmaker()
    try:
        yield session
    except AppError as exc:
        await _end(session, commit=exc.keeps_changes)
        raise
    except BaseException:
        await _end(session, commit=False)
        raise
    else:
        await _end(session, commit=True)


async def _end(session: AsyncSession, *, commit: bool) -> None:
    """Commit (or roll back) and close in one trip into SQLAlchemy's synchronous core; a
    session that never began a transaction (a request that only read through the auth cache
    and `read_one`) holds no connection and has nothing to end. Once committed, the
    `after_commit` callbacks run."""
    callbacks = take_after_commit(session)
    if session.in_transaction():
        await session.run_sync(commit_and_close if commit else rollback_and_close)
    else:
        session.sync_session.expunge_all()
    if commit:
        await run_after_commit(callbacks)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
