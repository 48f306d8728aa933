"""Disposal Q&A: a question is stored at once and answered by the `chat.pipeline` job, which
writes the answer (once per question) and pushes it to the user's notification channel."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco import repository
from ensemble.apps.eco.domain import categories, classify_text, disposal_guide
from ensemble.apps.eco.models import ChatMessage, ChatSession
from ensemble.apps.eco.tasks import chat_pipeline
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import NotFound
from ensemble.kernel.pagination import Page, PageRequest

CONFIDENT = 0.4


async def open_session(session: AsyncSession, user_id: uuid.UUID, title: str | None) -> ChatSession:
    chat = ChatSession(id=new_id(), user_id=user_id, title=title, created_at=utcnow())
    session.add(chat)
    await session.flush()
    return chat


async def sessions_of(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> Page[ChatSession]:
    """The user's chat sessions, newest first."""
    return await repository.chat_sessions.page_of(session, user_id, page)


async def owned_session(
    session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID
) -> ChatSession:
    missing = NotFound("No such chat session.", code="chat_session_not_found")
    return await repository.chat_sessions.get_or_404(
        session, session_id, missing, visible=lambda chat: chat.user_id == user_id
    )


async def ask(
    session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, content: str
) -> ChatMessage:
    """Store the question and request its answer (after commit)."""
    await owned_session(session, user_id, session_id)
    question = ChatMessage(
        id=new_id(), session_id=session_id, role="user", content=content, created_at=utcnow()
    )
    session.add(question)
    await session.flush()
    await chat_pipeline.enqueue(session, message_id=str(question.id))
    return question


async def messages(
    session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID, page: PageRequest
) -> Page[ChatMessage]:
    """The session's messages in the order they were written."""
    await owned_session(session, user_id, session_id)
    return await repository.chat_messages.page_of(session, session_id, page)


def message_payload(message: ChatMessage) -> dict[str, object]:
    return {
        "message_id": str(message.id),
        "session_id": str(message.session_id),
        "role": message.role,
        "content": message.content,
        "category": message.category,
        "reply_to": str(message.reply_to) if message.reply_to else None,
        "created_at": message.created_at.isoformat(),
    }


def compose_answer(question: str) -> tuple[str | None, str]:
    """The category the question is about (if recognised) and the answer's text."""
    result = classify_text(question)
    if result.confidence < CONFIDENT:
        known = ", ".join(f"{c.label_ko}({c.label_en})" for c in categories().values())
        return None, (
            "어떤 품목인지 조금 더 알려주세요. 예: '페트병은 어떻게 버려요?' "
            f"(Tell me which item: I know {known}.)"
        )
    guide = disposal_guide(result.category)
    steps = "\n".join(f"{number}. {step}" for number, step in enumerate(guide["steps"], start=1))
    heading = f"[{guide['label_ko']} / {guide['label_en']}] → {guide['bin']}"
    answer = f"{heading}\n{steps}\n⚠ {guide['caution']}"
    return result.category, answer


async def answer(
    session: AsyncSession, message_id: uuid.UUID
) -> tuple[ChatMessage, uuid.UUID] | None:
    """Write the answer to a question, once; returns it with the asker's id (None if the
    question is gone or was already answered)."""
    question = await repository.chat_messages.get(session, message_id)
    if question is None or question.role != "user":
        return None
    chat = await session.get_one(ChatSession, question.session_id)
    category, text = compose_answer(question.content)
    answer_id = await repository.chat_messages.insert_answer(
        session,
        {
            "id": new_id(),
            "session_id": question.session_id,
            "role": "assistant",
            "content": text,
            "category": category,
            "reply_to": question.id,
            "created_at": utcnow(),
        },
    )
    if answer_id is None:
        return None
    return await session.get_one(ChatMessage, answer_id), chat.user_id
