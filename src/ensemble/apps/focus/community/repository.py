"""The community's queries: posts and comments as readers see them (with their author's
name, and whether the reader liked the post), and the statements that keep a post's
counts exact under concurrency."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, delete, exists, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from ensemble.apps.focus.community.models import Comment, Post, PostLike
from ensemble.apps.focus.models import User
from ensemble.kernel.db import utcnow
from ensemble.kernel.db.repository import Repository
from ensemble.kernel.pagination import Page, PageRequest, newest_first

AUTHOR_NAME = User.display_name.label("author_name")


@dataclass(frozen=True)
class PostFilter:
    board: str | None = None
    tag: str | None = None
    author_id: uuid.UUID | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [Post.deleted_at.is_(None)]
        if self.board is not None:
            found.append(Post.board == self.board)
        if self.tag is not None:
            found.append(Post.tags.contains([self.tag]))
        if self.author_id is not None:
            found.append(Post.author_id == self.author_id)
        return found


def _posts_read_by(reader_id: uuid.UUID) -> Select[Post, str, bool]:
    liked = exists().where(PostLike.post_id == Post.id, PostLike.user_id == reader_id)
    return select(Post, AUTHOR_NAME, liked.label("liked_by_me")).join(
        User, User.account_id == Post.author_id
    )


class Posts(Repository[Post]):
    async def live(self, session: AsyncSession, post_id: uuid.UUID) -> Post | None:
        """The post unless it was deleted."""
        post = await self.get(session, post_id)
        return post if post is not None and post.deleted_at is None else None

    async def read(
        self, session: AsyncSession, post_id: uuid.UUID, reader_id: uuid.UUID
    ) -> Row[Post, str, bool] | None:
        """A live post as `reader_id` sees it: `(post, author_name, liked_by_me)`."""
        stmt = _posts_read_by(reader_id).where(Post.id == post_id, Post.deleted_at.is_(None))
        return (await session.execute(stmt)).one_or_none()

    async def page_read(
        self, session: AsyncSession, reader_id: uuid.UUID, which: PostFilter, page: PageRequest
    ) -> Page[Any]:
        """Live posts newest first, as `reader_id` sees them."""
        stmt = _posts_read_by(reader_id).where(*which.conditions())
        return await newest_first(session, stmt, page, Post.id)

    async def soft_delete(self, session: AsyncSession, post_id: uuid.UUID, by: uuid.UUID) -> bool:
        """Delete a live post (once, whoever races: False if it was gone already)."""
        return await _soft_delete(session, Post, Post.id == post_id, by)

    async def add_to(
        self,
        session: AsyncSession,
        post_id: uuid.UUID,
        counter: InstrumentedAttribute[int],
        by: int,
    ) -> int:
        """Add `by` to one of the post's counters in one statement (exact however many
        change it at once); the new value."""
        changed = await session.scalar(
            update(Post)
            .where(Post.id == post_id)
            .values({counter: counter + by})
            .returning(counter)
        )
        assert changed is not None
        return int(changed)


class Comments(Repository[Comment]):
    async def live(self, session: AsyncSession, comment_id: uuid.UUID) -> Comment | None:
        """The comment unless it, or its post, was deleted."""
        stmt = (
            select(Comment)
            .join(Post, Post.id == Comment.post_id)
            .where(
                Comment.id == comment_id,
                Comment.deleted_at.is_(None),
                Post.deleted_at.is_(None),
            )
        )
        return (await session.scalars(stmt)).one_or_none()

    async def read(self, session: AsyncSession, comment_id: uuid.UUID) -> Row[Comment, str]:
        stmt = self._read().where(Comment.id == comment_id)
        return (await session.execute(stmt)).one()

    async def page_of_post(
        self, session: AsyncSession, post_id: uuid.UUID, page: PageRequest
    ) -> Page[Any]:
        """A post's live comments newest first, each with its author's name."""
        stmt = self._read().where(Comment.post_id == post_id, Comment.deleted_at.is_(None))
        return await newest_first(session, stmt, page, Comment.id)

    async def soft_delete(
        self, session: AsyncSession, comment_id: uuid.UUID, by: uuid.UUID
    ) -> bool:
        return await _soft_delete(session, Comment, Comment.id == comment_id, by)

    @staticmethod
    def _read() -> Select[Comment, str]:
        return select(Comment, AUTHOR_NAME).join(User, User.account_id == Comment.author_id)


async def _soft_delete(
    session: AsyncSession,
    model: type[Post] | type[Comment],
    which: ColumnElement[bool],
    by: uuid.UUID,
) -> bool:
    deleted = await session.scalar(
        update(model)
        .where(which, model.deleted_at.is_(None))
        .values(deleted_at=utcnow(), deleted_by=by)
        .returning(true())
    )
    return deleted is not None


async def add_like(session: AsyncSession, post_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Like the post unless the user does already (or is liking it right now): whether a
    like was added."""
    added = await session.scalar(
        insert(PostLike)
        .values(post_id=post_id, user_id=user_id, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(true())
    )
    return added is not None


async def remove_like(session: AsyncSession, post_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether a like was there to remove."""
    removed = await session.scalar(
        delete(PostLike)
        .where(PostLike.post_id == post_id, PostLike.user_id == user_id)
        .returning(true())
    )
    return removed is not None


posts = Posts(Post)
comments = Comments(Comment)
