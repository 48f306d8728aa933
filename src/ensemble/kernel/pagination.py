"""Cursor pagination: `?cursor=&limit=` in, `{items, next_cursor}` out.

A cursor is the sort key of the last item served, as opaque URL-safe base64 JSON. Keyset
pagination stays fast on deep pages and never skips or repeats rows when others insert.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from ensemble.kernel.errors import InvalidInput
from ensemble.kernel.schemas import IntegerLiteral

T = TypeVar("T")
Row = TypeVar("Row")

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
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
    """Shape a page from `limit + 1` fetched rows: the extra row only says there is more."""
    visible = rows[:limit]
    next_cursor = encode_cursor(key(visible[-1])) if len(rows) > limit and visible else None
    return Page[T](items=[item(row) for row in visible], next_cursor=next_cursor)
