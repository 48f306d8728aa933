"""`paginate`: keyset pages of any statement, ascending or descending, with ties on the
first key broken by the next, a cursor that is not ours refused, and the last page closed."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import DateTime, Integer, Uuid, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ensemble.kernel.db import Database
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.errors import InvalidInput
from ensemble.kernel.pagination import Page, PageRequest, SortKey, encode_cursor, paginate


class _Probe(DeclarativeBase):
    pass


class Item(_Probe):
    __tablename__ = "pagination_probe"
    __table_args__ = {"schema": "public"}

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


START = datetime(2026, 1, 1, tzinfo=UTC)
RANKS = [3, 1, 2, 1, 3, 1, 2]  # ties on the first key


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    """Seven items in a transaction rolled back at the end."""
    async with database.engine.begin() as connection:
        await connection.run_sync(_Probe.metadata.create_all)
    async with database.sessionmaker() as session, session.begin():
        await session.execute(text("DELETE FROM public.pagination_probe"))
        rows = [
            {"id": uuid.uuid4(), "rank": rank, "at": START + timedelta(minutes=n)}
            for n, rank in enumerate(RANKS)
        ]
        await session.execute(insert(Item), rows)
        yield session
        await session.rollback()


async def _walk(
    session: AsyncSession, keys: tuple[SortKey, ...], *, descending: bool = False, limit: int = 3
) -> list[Page[Item]]:
    pages: list[Page[Item]] = []
    cursor: str | None = None
    while not pages or cursor is not None:
        request = PageRequest(cursor=cursor, limit=limit)
        page = await paginate(
            session, select(Item), request, keys=keys, item=lambda i: i, descending=descending
        )
        pages.append(page)
        cursor = page.next_cursor
    return pages


def _flat(pages: list[Page[Item]]) -> list[Item]:
    return [item for page in pages for item in page.items]


async def test_ascending_pages_break_ties_on_the_first_key(session: AsyncSession) -> None:
    pages = await _walk(session, (Item.rank, Item.id))
    every = sorted((await session.scalars(select(Item))).all(), key=lambda i: (i.rank, i.id))
    assert [len(page.items) for page in pages] == [3, 3, 1]
    assert _flat(pages) == every


async def test_descending_pages_on_a_time_and_the_id(session: AsyncSession) -> None:
    pages = await _walk(session, (Item.at, Item.id), descending=True, limit=2)
    assert [item.at for item in _flat(pages)] == [
        START + timedelta(minutes=n) for n in reversed(range(len(RANKS)))
    ]
    assert [len(page.items) for page in pages] == [2, 2, 2, 1]


async def test_the_last_page_has_no_next_cursor(session: AsyncSession) -> None:
    exact = await _walk(session, (Item.id,), limit=len(RANKS))
    assert len(exact) == 1
    assert len(exact[0].items) == len(RANKS)
    assert exact[0].next_cursor is None


async def test_a_cursor_is_the_last_items_key(session: AsyncSession) -> None:
    first = (await _walk(session, (Item.at, Item.id), limit=3))[0]
    last = first.items[-1]
    assert first.next_cursor == encode_cursor([last.at.isoformat(), str(last.id)])


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        encode_cursor(["not-a-uuid"]),
        encode_cursor([1, 2]),
        base64.urlsafe_b64encode(b'{"a":1}').decode(),
    ],
)
async def test_a_cursor_that_is_not_ours_is_invalid_cursor(
    session: AsyncSession, cursor: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await paginate(
            session, select(Item), PageRequest(cursor, 3), keys=(Item.id,), item=lambda i: i
        )
    assert refused.value.code == "invalid_cursor"
    assert refused.value.status_code == 422


async def test_rows_of_several_entities_page_on_the_keys_entity(session: AsyncSession) -> None:
    stmt = select(Item, Item.rank * 10)
    page = await paginate(
        session, stmt, PageRequest(None, 2), keys=(Item.id,), item=lambda row: row[1]
    )
    ranks = sorted((await session.scalars(select(Item))).all(), key=lambda i: i.id)
    assert page.items == [ranks[0].rank * 10, ranks[1].rank * 10]
    assert page.next_cursor == encode_cursor([str(ranks[1].id)])


async def test_a_repository_gets_lists_and_pages(session: AsyncSession) -> None:
    items = Repository(Item)
    every = await items.list(session, items.select().order_by(Item.at))
    assert len(every) == len(RANKS)
    assert await items.get(session, every[0].id) is every[0]
    missing = InvalidInput("gone", code="gone")
    with pytest.raises(InvalidInput):
        await items.get_or_404(session, uuid.uuid4(), missing)
    with pytest.raises(InvalidInput):
        await items.get_or_404(session, every[0].id, missing, visible=lambda i: i.rank > 5)
    page = await items.page(session, items.select(), PageRequest(None, 2), (Item.at,))
    assert page.items == every[:2]
