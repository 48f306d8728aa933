"""The live domain's bodies: a room chat line (history route and `chat_message` frames)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from ensemble.kernel.schemas import ResponseModel


class ChatMessagePublic(ResponseModel):
    message_id: uuid.UUID = Field(validation_alias="id")
    room_id: uuid.UUID
    user_id: uuid.UUID
    text: str
    created_at: datetime
