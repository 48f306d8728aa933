"""The request owns the transaction: one session per request, one commit at the end.

The dependency runs with `scope="function"`, so the commit happens before the response is
sent: a failing commit becomes an error response, never a silent 2xx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.db.engine import Database
from ensemble.kernel.errors import AppError


def get_database(request: Request) -> Database:
    database: Database = request.state.database
    return database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).sessionmaker() as session:
        try:
            yield session
        except AppError as exc:
            if exc.keeps_changes:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
