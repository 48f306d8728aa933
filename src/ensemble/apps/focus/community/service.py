"""Posts, comments and likes: authors edit and delete their own, moderators delete any;
deletion is soft; like and comment counts stay exact however many change them at once.
Never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.community.models import Comment, Post
from ensemble.apps.focus.community.repository import (
    PostFilter,
    add_like,
    comments,
    posts,
    remove_like,
)
from ensemble.apps.focus.community.schemas import CommentBody, PostCreate, PostUpdate
from ensemble.apps.focus.events import AGGREGATE_POST, CommentAdded
from ensemble.kernel.db import utcnow
from ensemble.kernel.db.repository import insert
from ensemble.kernel.errors import Forbidden, NotFound
from ensemble.kernel.events import Envelope, outbox
from ensemble.kernel.pagination import Page, PageRequest
from ensemble.kernel.schemas import Extended


class PostNotFound(NotFound):
    code = "post_not_found"
    message = "The post does not exist."


class CommentNotFound(NotFound):
    code = "comment_not_found"
    message = "The comment does not exist."


class NotAuthor(Forbidden):
    code = "not_author"
    message = "Only its author may do this."


@dataclass(frozen=True)
class Liking:
    """A user's like of a post after a like or unlike, and the post's count."""

    post_id: uuid.UUID
    liked: bool
    like_count: int


def _post_view(row: Any) -> Extended:
    """`(post, author_name, liked_by_me)` for `PostPublic`."""
    return Extended(row[0], author_name=row.author_name, liked_by_me=row.liked_by_me)


def _comment_view(row: Any) -> Extended:
    """`(comment, author_name)` for `CommentPublic`."""
    return Extended(row[0], author_name=row.author_name)


def _authored(row: Post | Comment, caller_id: uuid.UUID) -> None:
    if row.author_id != caller_id:
        raise NotAuthor()


async def _live_post(session: AsyncSession, post_id: uuid.UUID) -> Post:
    post = await posts.live(session, post_id)
    if post is None:
        raise PostNotFound()
    return post


async def _live_comment(session: AsyncSession, comment_id: uuid.UUID) -> Comment:
    comment = await comments.live(session, comment_id)
    if comment is None:
        raise CommentNotFound()
    return comment


# posts


async def post(session: AsyncSession, post_id: uuid.UUID, reader_id: uuid.UUID) -> Extended:
    """A live post as `reader_id` sees it (404 `post_not_found`)."""
    found = await posts.read(session, post_id, reader_id)
    if found is None:
        raise PostNotFound()
    return _post_view(found)


async def posts_page(
    session: AsyncSession, reader_id: uuid.UUID, which: PostFilter, page: PageRequest
) -> Page[Extended]:
    """Live posts newest first, filtered by board, tag or author."""
    return (await posts.page_read(session, reader_id, which, page)).map(_post_view)


async def write_post(session: AsyncSession, author_id: uuid.UUID, data: PostCreate) -> Extended:
    written = await insert(session, Post(author_id=author_id, **data.model_dump()))
    return await post(session, written.id, author_id)


async def edit_post(
    session: AsyncSession, caller_id: uuid.UUID, post_id: uuid.UUID, patch: PostUpdate
) -> Extended:
    """The author's change to their post (403 `not_author` for anyone else)."""
    found = await _live_post(session, post_id)
    _authored(found, caller_id)
    for name, value in patch.changes().items():
        setattr(found, name, value)
    found.edited_at = utcnow()
    await session.flush()
    return await post(session, post_id, caller_id)


async def delete_post(
    session: AsyncSession, caller_id: uuid.UUID, post_id: uuid.UUID, *, moderating: bool
) -> None:
    """Delete a post softly: its author, or a moderator (`moderating`). Deleted already:
    404 `post_not_found`."""
    found = await _live_post(session, post_id)
    if not moderating:
        _authored(found, caller_id)
    if not await posts.soft_delete(session, post_id, caller_id):
        raise PostNotFound()


# comments


async def comments_page(
    session: AsyncSession, post_id: uuid.UUID, page: PageRequest
) -> Page[Extended]:
    """A live post's live comments, newest first."""
    await _live_post(session, post_id)
    return (await comments.page_of_post(session, post_id, page)).map(_comment_view)


async def write_comment(
    session: AsyncSession, author_id: uuid.UUID, post_id: uuid.UUID, data: CommentBody
) -> Extended:
    """A comment on a live post; `CommentAdded` goes out with it."""
    commented = await _live_post(session, post_id)
    written = await insert(session, Comment(post_id=post_id, author_id=author_id, body=data.body))
    await posts.add_to(session, post_id, Post.comment_count, 1)
    added = CommentAdded(
        comment_id=written.id,
        post_id=post_id,
        post_author_id=commented.author_id,
        author_id=author_id,
        created_at=written.created_at,
    )
    await outbox.publish(
        session, Envelope.of(added, aggregate_type=AGGREGATE_POST, aggregate_id=str(post_id))
    )
    return _comment_view(await comments.read(session, written.id))


async def edit_comment(
    session: AsyncSession, caller_id: uuid.UUID, comment_id: uuid.UUID, data: CommentBody
) -> Extended:
    """The author's new text for their comment (403 `not_author` for anyone else)."""
    found = await _live_comment(session, comment_id)
    _authored(found, caller_id)
    found.body, found.edited_at = data.body, utcnow()
    await session.flush()
    return _comment_view(await comments.read(session, comment_id))


async def delete_comment(
    session: AsyncSession, caller_id: uuid.UUID, comment_id: uuid.UUID, *, moderating: bool
) -> None:
    """Delete a comment softly: its author, or a moderator (`moderating`)."""
    found = await _live_comment(session, comment_id)
    if not moderating:
        _authored(found, caller_id)
    if not await comments.soft_delete(session, comment_id, caller_id):
        raise CommentNotFound()
    await posts.add_to(session, found.post_id, Post.comment_count, -1)


# likes


async def like(session: AsyncSession, user_id: uuid.UUID, post_id: uuid.UUID) -> Liking:
    """Like a live post; liking it again changes nothing."""
    await _live_post(session, post_id)
    added = await add_like(session, post_id, user_id)
    return Liking(post_id, True, await _count_after(session, post_id, 1 if added else 0))


async def unlike(session: AsyncSession, user_id: uuid.UUID, post_id: uuid.UUID) -> Liking:
    """Take a like back; without one, nothing changes."""
    await _live_post(session, post_id)
    removed = await remove_like(session, post_id, user_id)
    return Liking(post_id, False, await _count_after(session, post_id, -1 if removed else 0))


async def _count_after(session: AsyncSession, post_id: uuid.UUID, change: int) -> int:
    if change:
        return await posts.add_to(session, post_id, Post.like_count, change)
    count = await session.scalar(select(Post.like_count).where(Post.id == post_id))
    return int(count or 0)
