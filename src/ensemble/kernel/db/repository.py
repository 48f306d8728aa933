"""The repository base every app's `repository.py` builds on: the queries one model needs
everywhere (get, get-or-404, list, keyset page), so an app writes only its own.

Repositories are stateless and take the session first, like services; they hold queries,
never business rules, and never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from ensemble.kernel.errors import AppError
from ensemble.kernel.pagination import Page, PageRequest, SortKey, as_fetched, paginate

M = TypeVar("M", bound=DeclarativeBase)


async def insert(session: AsyncSession, row: M) -> M:
    """Add `row` and flush it: its constraints answer now (a conflict raises here, inside
    the use case) and its server defaults are there to read."""
    session.add(row)
    await session.flush()
    return row


class Repository(Generic[M]):
    """Queries of one model. Subclass it for an app's own queries; `select()` starts them."""

    def __init__(self, model: type[M]) -> None:
        self.model = model

    def select(self) -> Select[M]:
        return select(self.model)

    async def get(self, session: AsyncSession, id: uuid.UUID, *, lock: bool = False) -> M | None:
        """The row with this primary key (from the session's identity map when loaded)."""
        return await session.get(self.model, id, with_for_update=lock or None)

    async def get_or_404(
        self,
        session: AsyncSession,
        id: uuid.UUID,
        error: AppError,
        *,
        visible: Callable[[M], bool] = lambda _: True,
    ) -> M:
        """The row with this primary key, or `error` when there is none or it is not
        `visible` to the caller (someone else's, inactive: the same answer as missing)."""
        found = await self.get(session, id)
        if found is None or not visible(found):
            raise error
        return found

    async def list(self, session: AsyncSession, stmt: Select[M]) -> Sequence[M]:
        return (await session.scalars(stmt)).all()

    async def page(
        self,
        session: AsyncSession,
        query: Select[M] | ColumnElement[bool],
        request: PageRequest,
        keys: Sequence[SortKey],
        *,
        descending: bool = False,
    ) -> Page[M]:
        """One keyset page of `query`, a statement or a condition on the model's rows (see
        `kernel.pagination.paginate`)."""
        stmt = query if isinstance(query, Select) else self.select().where(query)
        return await paginate(
            session, stmt, request, keys=keys, item=as_fetched, descending=descending
        )
