"""The live domain's table: room chat, kept (rooms are soft-deleted, so history stays)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.focus.models import SCHEMA, TZ
from ensemble.kernel.db import Base, UuidPk, utcnow

MAX_CHAT = 1000


class RoomMessage(Base):
    """A chat line of a room, written by a member over the room socket."""

    __tablename__ = "room_messages"
    __table_args__ = (Index(None, "room_id", "created_at", "id"), {"schema": SCHEMA})

    id: Mapped[UuidPk]
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.rooms.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.users.account_id"))
    text: Mapped[str] = mapped_column(String(MAX_CHAT))
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
