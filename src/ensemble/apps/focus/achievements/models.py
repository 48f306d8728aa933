"""Achievements' tables, in the `focus` schema: unlocks (the catalogue itself is code) and
the rooms each user created, counted for `rooms_hosted`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.focus.models import SCHEMA, TZ
from ensemble.kernel.db import Base, utcnow


class Unlock(Base):
    """An achievement a user unlocked: one row per (user, code), so concurrent or repeated
    deliveries of the events that earn it unlock it once."""

    __tablename__ = "achievement_unlocks"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    unlocked_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class HostedRoom(Base):
    """A room a user created (from `RoomCreated`; a room transferred later stays counted for
    its creator)."""

    __tablename__ = "hosted_rooms"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    room_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(TZ)
