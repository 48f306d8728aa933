"""Room chat: history, posting (persist, then fan out to every server process), presence."""

from __future__ import annotations

import uuid
from typing import TypeGuard

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.b0 import repository
from ensemble.apps.b0.events import room_channel
from ensemble.apps.b0.models import ChatMessage
from ensemble.apps.b0.travel.service import require_member
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.pagination import Page, PageRequest
from ensemble.kernel.realtime import Hub

MAX_CONTENT = 300


def is_valid_content(content: object) -> TypeGuard[str]:
    """1–300 characters of text PostgreSQL can store (no NUL)."""
    return isinstance(content, str) and 0 < len(content) <= MAX_CONTENT and "\x00" not in content


async def history(
    session: AsyncSession,
    user_id: uuid.UUID,
    room_id: uuid.UUID,
    page: PageRequest,
) -> Page[ChatMessage]:
    await require_member(session, user_id, room_id)
    return await repository.messages.page_of(session, room_id, page)


async def post(
    session: AsyncSession, user_id: uuid.UUID, room_id: uuid.UUID, content: str
) -> ChatMessage:
    """Persist a member's message (the caller commits, then publishes)."""
    await require_member(session, user_id, room_id)
    message = ChatMessage(
        id=new_id(), room_id=room_id, user_id=user_id, content=content, created_at=utcnow()
    )
    session.add(message)
    await session.flush()
    return message


async def announce(hub: Hub, room_id: uuid.UUID, event: str, user_id: uuid.UUID) -> None:
    """A presence notice (joined/left the chat); not persisted."""
    await hub.publish(
        room_channel(room_id), {"type": event, "room_id": str(room_id), "user_id": str(user_id)}
    )
