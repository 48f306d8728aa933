"""1:1 message routes: conversations, their messages and read marks, blocks."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status

from ensemble.apps.focus.auth import CurrentUser
from ensemble.apps.focus.messages import service
from ensemble.apps.focus.messages.schemas import (
    BLOCKED,
    NOT_A_PARTICIPANT,
    BlockPublic,
    ConversationOpen,
    ConversationPublic,
    MessagePublic,
    MessageSend,
    ReadMark,
    ReadPublic,
    created_or_found,
    found,
)
from ensemble.apps.focus.schemas import INPUT, PREFIX, errors
from ensemble.kernel.db import SessionDep
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=PREFIX, tags=["messages"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]
PARTICIPANT = (*INPUT, (404, NOT_A_PARTICIPANT))
NO_USER = (404, "No such user (`user_not_found`)")
REUSED = (
    409,
    "The `id` or `Idempotency-Key` was used for another message (`idempotency_key_reused`)",
)
NO_MESSAGE = (404, f"{NOT_A_PARTICIPANT}, or no such message in it (`message_not_found`)")


def _conversation(row: Any) -> ConversationPublic:
    conversation, peer, last, unread = row
    last_message = MessagePublic.model_validate(last) if last is not None else None
    return ConversationPublic.model_validate(
        Extended(conversation, peer=peer, last_message=last_message, unread_count=unread)
    )


def _block(row: Any) -> BlockPublic:
    block, blocked = row
    return BlockPublic.model_validate(Extended(block, display_name=blocked.display_name))


@router.post(
    "/conversations",
    status_code=status.HTTP_201_CREATED,
    responses={
        **errors(*INPUT, BLOCKED, NO_USER),
        **found(ConversationPublic, "Your conversation with this user exists: here it is"),
    },
)
async def open_conversation(
    body: ConversationOpen, user: CurrentUser, session: SessionDep, response: Response
) -> ConversationPublic:
    """Your conversation with a user: opened now (201), or the one you have (200)."""
    conversation, created = await service.open_conversation(session, user.account_id, body.user_id)
    created_or_found(response, created)
    return _conversation(await service.conversation_row(session, user.account_id, conversation))


@router.get("/conversations", responses=errors(*INPUT))
async def conversations(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ConversationPublic]:
    """Your conversations, latest activity first, with the last message and your unread
    count."""
    return (await service.conversations_of(session, user.account_id, page)).map(_conversation)


@router.get("/conversations/{conversation_id}/messages", responses=errors(*PARTICIPANT))
async def messages(
    conversation_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[MessagePublic]:
    """The conversation's messages, newest first."""
    rows = await service.history(session, user.account_id, conversation_id, page)
    return rows.map(MessagePublic.model_validate)


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    responses={
        **errors(*PARTICIPANT, BLOCKED, REUSED),
        **found(MessagePublic, "Sent already (same `id` or `Idempotency-Key`): here it is"),
    },
)
async def send(
    conversation_id: uuid.UUID,
    body: MessageSend,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> MessagePublic:
    """Send a message; it reaches both sockets (`dm`) and notifies the other user. Sending
    again with the same `id` (or `Idempotency-Key`) stores nothing and returns the first."""
    message_id = service.message_id_of(user.account_id, body.id, idempotency_key)
    message, created = await service.send(
        session, user.account_id, conversation_id, body.text, message_id=message_id
    )
    created_or_found(response, created)
    return MessagePublic.model_validate(message)


@router.post(
    "/conversations/{conversation_id}/read",
    responses=errors(*INPUT, NO_MESSAGE),
)
async def mark_read(
    conversation_id: uuid.UUID, user: CurrentUser, session: SessionDep, body: ReadMark | None = None
) -> ReadPublic:
    """Read up to a message (default: all so far); answers your unread count after it."""
    up_to = body.up_to_message_id if body is not None else None
    state = await service.mark_read(session, user.account_id, conversation_id, up_to)
    return ReadPublic.model_validate(state)


@router.post(
    "/users/{user_id}/block",
    status_code=status.HTTP_201_CREATED,
    tags=["blocks"],
    responses={**errors(*INPUT, NO_USER), **found(BlockPublic, "Blocked already")},
)
async def block(
    user_id: uuid.UUID, user: CurrentUser, session: SessionDep, response: Response
) -> BlockPublic:
    """Block a user: neither of you can open a conversation or send a message to the other
    until you lift it."""
    found, blocked, created = await service.block(session, user.account_id, user_id)
    created_or_found(response, created)
    return _block((found, blocked))


@router.delete(
    "/users/{user_id}/block",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["blocks"],
    responses=errors(*INPUT, NO_USER),
)
async def unblock(user_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    """Lift your block of a user (none: nothing to do)."""
    await service.unblock(session, user.account_id, user_id)


@router.get("/blocks", tags=["blocks"], responses=errors(*INPUT))
async def blocks(user: CurrentUser, session: SessionDep, page: PageDep) -> Page[BlockPublic]:
    """Whom you blocked, latest first."""
    rows = await service.blocks_of(session, user.account_id, page)
    return rows.map(_block)
