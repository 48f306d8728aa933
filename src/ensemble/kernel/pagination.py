"""Cursor pagination: `?cursor=&limit=` in, `{items, next_cursor}` out.

A cursor is the sort key of the last item served, as opaque URL-safe base64 JSON. Keyset
pagination stays fast on deep pages and never skips or repeats rows when others insert.
Every list query goes through `paginate`, which owns the whole convention: the keyset
condition from the cursor, the order, the one extra row that says there is more, the page.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from ensemble.kernel.errors import InvalidInput
from ensemble.kernel.schemas import IntegerLiteral

T = TypeVar("T")
U = TypeVar("U")
Row = TypeVar("Row")

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None

    def map(self, item: Callable[[T], U]) -> Page[U]:
        """The same page with each item shaped by `item`."""
        return Page[U](items=[item(each) for each in self.items], next_cursor=self.next_cursor)


def _plain(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=_plain).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The key inside a cursor; a cursor that is not ours is a 422, never a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("The cursor is not valid.", code="invalid_cursor") from exc
    if not isinstance(key, list) or len(key) != arity:
        raise InvalidInput("The cursor is not valid.", code="invalid_cursor")
    return key


@dataclass(frozen=True)
class PageRequest:
    cursor: str | None
    limit: int

    def key(self, *parsers: Callable[[str], Any]) -> tuple[Any, ...] | None:
        """The cursor's sort key, each part parsed (e.g. `uuid.UUID`); None on the first page."""
        if self.cursor is None:
            return None
        raw = decode_cursor(self.cursor, len(parsers))
        try:
            return tuple(parse(str(part)) for parse, part in zip(parsers, raw, strict=True))
        except ValueError as exc:
            raise InvalidInput("The cursor is not valid.", code="invalid_cursor") from exc

    @property
    def fetch(self) -> int:
        """Rows to read for a page: one beyond it says whether there is more."""
        return self.limit + 1

    def after_id(self) -> uuid.UUID | None:
        """For pages ordered by id alone."""
        key = self.key(uuid.UUID)
        return None if key is None else key[0]


async def _page_request(
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT), IntegerLiteral] = DEFAULT_LIMIT,
) -> PageRequest:
    return PageRequest(cursor=cursor, limit=limit)


PageDep = Annotated[PageRequest, Depends(_page_request)]


def build_page(
    rows: Sequence[Row],
    limit: int,
    key: Callable[[Row], Sequence[Any]],
    item: Callable[[Row], T],
) -> Page[T]:
    """Shape a page from `PageRequest.fetch` rows: the extra row only says there is more."""
    visible = rows[:limit]
    next_cursor = encode_cursor(key(visible[-1])) if len(rows) > limit and visible else None
    return Page[T](items=[item(row) for row in visible], next_cursor=next_cursor)


SortKey = InstrumentedAttribute[Any]
"""A mapped column the page is ordered by (`Model.column`)."""

_PARSERS: dict[type, Callable[[str], Any]] = {
    datetime: datetime.fromisoformat,
    date: date.fromisoformat,
}


def _parser(key: SortKey) -> Callable[[str], Any]:
    python_type: type = key.type.python_type
    return _PARSERS.get(python_type, python_type)


def _key_of(row: Any, keys: Sequence[SortKey]) -> list[Any]:
    """The sort key of a fetched row: an entity, or a row holding the keys' entity."""
    values = []
    for key in keys:
        owner = cast(type, key.class_)
        holder = row if isinstance(row, owner) else next(p for p in row if isinstance(p, owner))
        values.append(getattr(holder, key.key))
    return values


def _after(keys: Sequence[SortKey], key: Sequence[Any], descending: bool) -> ColumnElement[bool]:
    """Rows strictly past the cursor's key in the page order (row comparison on the keys)."""
    bounds = [literal(value, column.type) for column, value in zip(keys, key, strict=True)]
    position: Any = keys[0] if len(keys) == 1 else tuple_(*keys)
    bound: Any = bounds[0] if len(keys) == 1 else tuple_(*bounds)
    condition: ColumnElement[bool] = position < bound if descending else position > bound
    return condition


def as_fetched(row: Any) -> Any:
    """The `item` of a page of rows (or entities) as the statement fetched them."""
    return row


async def paginate(
    session: AsyncSession,
    stmt: Select[*tuple[Any, ...]],
    request: PageRequest,
    *,
    keys: Sequence[SortKey],
    item: Callable[[Any], T],
    descending: bool = False,
) -> Page[T]:
    """One page of `stmt` ordered by `keys` (all ascending, or all `descending`; the last
    key must make the order total, e.g. the id): rows past the cursor, each shaped by `item`
    (`as_fetched` keeps them as they are). A statement of one entity pages entities, else
    rows. `stmt` must not be ordered or limited already."""
    after = request.key(*(_parser(key) for key in keys))
    if after is not None:
        stmt = stmt.where(_after(keys, after, descending))
    order = [key.desc() for key in keys] if descending else list(keys)
    result = await session.execute(stmt.order_by(*order).limit(request.fetch))
    rows = result.scalars().all() if len(stmt.column_descriptions) == 1 else result.all()
    return build_page(rows, request.limit, lambda row: _key_of(row, keys), item)


async def newest_first(
    session: AsyncSession, stmt: Select[*tuple[Any, ...]], request: PageRequest, *keys: SortKey
) -> Page[Any]:
    """One page of `stmt`'s rows (or entities) as fetched, the newest first by `keys` (the
    last of which makes the order total): every history, log and inbox."""
    return await paginate(session, stmt, request, keys=keys, item=as_fetched, descending=True)
