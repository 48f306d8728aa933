"""The community's request and response bodies. Text is taken and given back as written:
the API never renders it (no HTML is made of it, none is stripped)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field

from ensemble.apps.focus.schemas import ANY_TEXT, VISIBLE_TEXT, Patch, Strict, left_out
from ensemble.kernel.schemas import ResponseModel, RowId

TITLE_MAX, BODY_MAX, COMMENT_MAX, TAGS_MAX = 120, 10_000, 2_000, 10


def _text(max_length: int) -> Any:
    return Field(min_length=1, max_length=max_length, pattern=VISIBLE_TEXT)


Label = Annotated[
    str,
    Field(min_length=1, max_length=32, pattern=r"^[\w-]+$", examples=["pomodoro"]),
    AfterValidator(str.lower),
]
"""A board or a tag: letters (any script), digits, `_` and `-`; compared in lower case."""


def _distinct(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


Tags = Annotated[list[Label], Field(max_length=TAGS_MAX), AfterValidator(_distinct)]


class PostCreate(Strict):
    title: str = _text(TITLE_MAX)
    body: str = Field(default="", max_length=BODY_MAX, pattern=ANY_TEXT)
    board: Label | None = None
    tags: Tags = Field(default_factory=list)


class PostUpdate(Patch):
    """What the author changes; `board` may be set to null (no board)."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"board"})

    title: str = left_out(min_length=1, max_length=TITLE_MAX, pattern=VISIBLE_TEXT)
    body: str = left_out(max_length=BODY_MAX, pattern=ANY_TEXT)
    board: Label | None = None
    tags: Tags = left_out()


class PostPublic(ResponseModel):
    post_id: RowId
    author_id: uuid.UUID
    author_name: str
    title: str
    body: str
    board: str | None
    tags: list[str]
    like_count: int
    comment_count: int
    liked_by_me: bool
    created_at: datetime
    edited_at: datetime | None


class CommentBody(Strict):
    """A new comment, or a comment's new text."""

    body: str = _text(COMMENT_MAX)


class CommentPublic(ResponseModel):
    comment_id: RowId
    post_id: uuid.UUID
    author_id: uuid.UUID
    author_name: str
    body: str
    created_at: datetime
    edited_at: datetime | None


class LikePublic(ResponseModel):
    post_id: uuid.UUID
    liked: bool
    like_count: int
