"""ECO² chat routes: parse, authorize, call the use case, shape the response."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from ensemble.apps.eco.auth import CurrentUser
from ensemble.apps.eco.chat import service
from ensemble.apps.eco.schemas import (
    INPUT,
    OWNED,
    PREFIX,
    ChatMessageAccepted,
    ChatMessageCreate,
    ChatMessagePublic,
    ChatSessionCreate,
    ChatSessionPublic,
    errors,
)
from ensemble.kernel.db import SessionDep
from ensemble.kernel.pagination import Page, PageDep

router = APIRouter(prefix=PREFIX, tags=["chat"])


@router.post(
    "/chat/sessions",
    status_code=status.HTTP_201_CREATED,
    responses=errors(*INPUT),
)
async def open_chat(
    body: ChatSessionCreate, user: CurrentUser, session: SessionDep
) -> ChatSessionPublic:
    return ChatSessionPublic.model_validate(
        await service.open_session(session, user.account_id, body.title)
    )


@router.get("/chat/sessions", responses=errors(*INPUT))
async def chat_sessions(
    user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ChatSessionPublic]:
    """Your chat sessions, newest first."""
    return (await service.sessions_of(session, user.account_id, page)).map(
        ChatSessionPublic.model_validate
    )


@router.post(
    "/chat/sessions/{session_id}/messages",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(*OWNED),
)
async def ask(
    session_id: uuid.UUID, body: ChatMessageCreate, user: CurrentUser, session: SessionDep
) -> ChatMessageAccepted:
    """Ask a disposal question; the answer arrives in the session (and over the socket)."""
    question = await service.ask(session, user.account_id, session_id, body.content)
    return ChatMessageAccepted(message=ChatMessagePublic.model_validate(question))


@router.get("/chat/sessions/{session_id}/messages", responses=errors(*OWNED))
async def chat_messages(
    session_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ChatMessagePublic]:
    """The session's questions and answers, oldest first."""
    rows = await service.messages(session, user.account_id, session_id, page)
    return rows.map(ChatMessagePublic.model_validate)
