"""The events B0 publishes: room notices sent after commit, written to the job outbox with
the change that causes them, then published to the room's channel by a job (so a
rolled-back change says nothing and a committed one is never silent, whichever process
made it)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.b0.models import ChatMessage
from ensemble.apps.b0.settings import B0
from ensemble.kernel.jobs import RetryPolicy, job
from ensemble.kernel.realtime import CLOSE_FORBIDDEN
from ensemble.kernel.realtime.publisher import disconnect_payload


def room_channel(room_id: uuid.UUID) -> str:
    return f"b0:room:{room_id}"


def message_payload(message: ChatMessage) -> dict[str, Any]:
    return {
        "type": "message",
        "chat_message_id": str(message.id),
        "room_id": str(message.room_id),
        "user_id": str(message.user_id) if message.user_id else None,
        "message_type": "USER" if message.user_id else "SYSTEM",
        "content": message.content,
        "created_at": message.created_at.isoformat(),
    }


@job("b0.room_event", retry=RetryPolicy(max_retries=3, min_backoff_ms=100))
async def room_event(_: AsyncSession, *, room_id: str, payload: dict[str, Any]) -> None:
    publisher = B0.current().publisher
    if publisher is not None:
        await publisher.publish(room_channel(uuid.UUID(room_id)), payload)


async def announce(session: AsyncSession, message: ChatMessage) -> None:
    """Publish a (system) chat line to the room once the transaction commits."""
    await session.flush()
    payload = message_payload(message)
    await room_event.enqueue(session, room_id=str(message.room_id), payload=payload)


async def end_membership(session: AsyncSession, room_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Close the leaver's sockets on the room, in every process, once the change commits."""
    payload = disconnect_payload(str(user_id), CLOSE_FORBIDDEN, "checked_out")
    await room_event.enqueue(session, room_id=str(room_id), payload=payload)
