"""Bodies of 1:1 messages: conversations, messages, read marks and blocks."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import Response, status
from pydantic import BaseModel, Field

from ensemble.apps.focus.schemas import Strict
from ensemble.kernel.openapi import Responses
from ensemble.kernel.schemas import FromText, ResponseModel, RowId

TEXT_MAX = 2000
TEXT = Field(min_length=1, max_length=TEXT_MAX, pattern=r"^[^\x00]*\S[^\x00]*$")
"""1–2,000 characters, not all blank, no NUL; stored and returned as sent."""

BLOCKED = (403, "A block stands between you and this user (`blocked`)")
NOT_A_PARTICIPANT = "No such conversation, or you are not in it (`conversation_not_found`)"


def found(model: type[BaseModel], description: str) -> Responses:
    """`responses=` for the 200 of a create that found what it would have created (its
    201 otherwise; see `created_or_found`)."""
    return {200: {"model": model, "description": description}}


def created_or_found(response: Response, created: bool) -> None:
    """201 for what the request created, 200 for what it found there already."""
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK


class ConversationOpen(Strict):
    user_id: FromText[uuid.UUID]


class MessageSend(Strict):
    text: str = TEXT
    id: FromText[uuid.UUID] | None = None
    """The client's id for the message: sending it again returns the message stored first
    (an `Idempotency-Key` header does the same)."""


class ReadMark(Strict):
    up_to_message_id: FromText[uuid.UUID] | None = None
    """Read up to this message (default: all of them so far); a mark never moves back."""


class PeerPublic(ResponseModel):
    user_id: uuid.UUID = Field(validation_alias="account_id")
    display_name: str


class MessagePublic(ResponseModel):
    message_id: RowId
    conversation_id: uuid.UUID
    seq: int
    """The message's number in its conversation, 1, 2, 3… in the order they were sent."""
    sender_id: uuid.UUID
    text: str
    created_at: datetime


class ConversationPublic(ResponseModel):
    conversation_id: RowId
    peer: PeerPublic
    created_at: datetime
    last_activity_at: datetime
    last_message: MessagePublic | None
    unread_count: int
    """Messages from the other user after your read mark."""


class ReadPublic(ResponseModel):
    conversation_id: uuid.UUID
    last_read_seq: int
    unread_count: int


class BlockPublic(ResponseModel):
    user_id: uuid.UUID = Field(validation_alias="blocked_id")
    display_name: str
    blocked_at: datetime = Field(validation_alias="created_at")
