"""Community routes: posts, their comments and likes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from ensemble.apps.focus.auth import MODERATORS, CurrentUser
from ensemble.apps.focus.community import service
from ensemble.apps.focus.community.repository import PostFilter
from ensemble.apps.focus.community.schemas import (
    CommentBody,
    CommentPublic,
    Label,
    LikePublic,
    PostCreate,
    PostPublic,
    PostUpdate,
)
from ensemble.apps.focus.schemas import INPUT, OWNED, PREFIX, errors
from ensemble.kernel.db import SessionDep
from ensemble.kernel.pagination import Page, PageDep

router = APIRouter(prefix=PREFIX, tags=["community"])

POST_404 = (404, "No such post, or it was deleted (`post_not_found`)")
COMMENT_404 = (404, "No such comment, or it or its post was deleted (`comment_not_found`)")
NOT_AUTHOR = (403, "Not the author (`not_author`)")


@router.post("/posts", status_code=status.HTTP_201_CREATED, responses=errors(*INPUT))
async def write_post(body: PostCreate, user: CurrentUser, session: SessionDep) -> PostPublic:
    """A new post. Title, body, board and tags are kept as written and returned as plain
    text: clients must not render them as HTML."""
    return PostPublic.model_validate(await service.write_post(session, user.account_id, body))


@router.get("/posts", responses=errors(*INPUT))
async def list_posts(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    board: Annotated[Label | None, Query()] = None,
    tag: Annotated[Label | None, Query()] = None,
    author: Annotated[uuid.UUID | None, Query(description="The author's user id")] = None,
) -> Page[PostPublic]:
    """Posts, newest first; filter by board, tag or author."""
    which = PostFilter(board=board, tag=tag, author_id=author)
    found = await service.posts_page(session, user.account_id, which, page)
    return found.map(PostPublic.model_validate)


@router.get("/posts/{post_id}", responses=errors(*INPUT, POST_404))
async def read_post(post_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> PostPublic:
    return PostPublic.model_validate(await service.post(session, post_id, user.account_id))


@router.patch("/posts/{post_id}", responses=errors(*INPUT, NOT_AUTHOR, POST_404))
async def edit_post(
    post_id: uuid.UUID, body: PostUpdate, user: CurrentUser, session: SessionDep
) -> PostPublic:
    """Change your post (the fields you name)."""
    edited = await service.edit_post(session, user.account_id, post_id, body)
    return PostPublic.model_validate(edited)


@router.delete(
    "/posts/{post_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(*INPUT, NOT_AUTHOR, POST_404),
)
async def delete_post(post_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    """Delete your post (softly: moderators can still see what it said)."""
    await service.delete_post(session, user.account_id, post_id, moderating=False)


@router.get("/posts/{post_id}/comments", responses=errors(*INPUT, POST_404))
async def list_comments(
    post_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[CommentPublic]:
    """A post's comments, newest first."""
    found = await service.comments_page(session, post_id, page)
    return found.map(CommentPublic.model_validate)


@router.post(
    "/posts/{post_id}/comments",
    status_code=status.HTTP_201_CREATED,
    responses=errors(*INPUT, POST_404),
)
async def write_comment(
    post_id: uuid.UUID, body: CommentBody, user: CurrentUser, session: SessionDep
) -> CommentPublic:
    written = await service.write_comment(session, user.account_id, post_id, body)
    return CommentPublic.model_validate(written)


@router.patch("/comments/{comment_id}", responses=errors(*INPUT, NOT_AUTHOR, COMMENT_404))
async def edit_comment(
    comment_id: uuid.UUID, body: CommentBody, user: CurrentUser, session: SessionDep
) -> CommentPublic:
    """Change your comment's text."""
    edited = await service.edit_comment(session, user.account_id, comment_id, body)
    return CommentPublic.model_validate(edited)


@router.delete(
    "/comments/{comment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *INPUT, (403, "Neither the author nor a moderator (`not_author`)"), COMMENT_404
    ),
)
async def delete_comment(comment_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    """Delete a comment: yours, or any as a moderator."""
    moderating = user.has_role(*MODERATORS)
    await service.delete_comment(session, user.account_id, comment_id, moderating=moderating)


@router.post("/posts/{post_id}/like", responses=errors(*OWNED, POST_404))
async def like(post_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> LikePublic:
    """Like a post; liking it again changes nothing."""
    return LikePublic.model_validate(await service.like(session, user.account_id, post_id))


@router.delete("/posts/{post_id}/like", responses=errors(*OWNED, POST_404))
async def unlike(post_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> LikePublic:
    """Take your like back; without one, nothing changes."""
    return LikePublic.model_validate(await service.unlike(session, user.account_id, post_id))
