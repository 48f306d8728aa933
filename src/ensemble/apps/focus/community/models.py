"""The community's tables, in the `focus` schema: posts, their comments and likes.

Posts and comments are deleted softly (`deleted_at`, and who deleted them); a post keeps its
like and comment counts, changed in the statement that adds or removes a like or comment.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.focus.models import SCHEMA, TZ
from ensemble.kernel.db import Base, UuidPk, utcnow

_LIVE = text("deleted_at IS NULL")
USERS = f"{SCHEMA}.users.account_id"


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        Index(None, "board", "id", postgresql_where=_LIVE),
        Index(None, "author_id", "id", postgresql_where=_LIVE),
        Index(None, "tags", postgresql_using="gin", postgresql_where=_LIVE),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    """Stored as written, returned as plain text: never rendered."""
    board: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    """Comments not deleted."""
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(TZ)
    """When the author last changed it (likes and comments leave it alone)."""
    deleted_at: Mapped[datetime | None] = mapped_column(TZ)
    deleted_by: Mapped[uuid.UUID | None]
    """The author, or the moderator who removed it."""


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (
        Index(None, "post_id", "id", postgresql_where=_LIVE),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.posts.id"))
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(TZ)
    deleted_at: Mapped[datetime | None] = mapped_column(TZ)
    deleted_by: Mapped[uuid.UUID | None]


class PostLike(Base):
    """One user's like of one post: the primary key makes liking twice one like."""

    __tablename__ = "post_likes"
    __table_args__ = {"schema": SCHEMA}

    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.posts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
