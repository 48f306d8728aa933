"""The tables of notifications, in the `focus` schema: the inbox and the push devices."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.focus.models import SCHEMA, TZ, enum_type
from ensemble.kernel.db import Base, UuidPk, utcnow

USERS = f"{SCHEMA}.users.account_id"


class Platform(enum.StrEnum):
    IOS = "ios"
    ANDROID = "android"
    WEB = "web"


class Notification(Base):
    """A notification in a user's inbox (ids are UUID v7: newest first is by id). `source`
    names what caused it (an event, a message), once per user: a redelivered cause adds
    nothing."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "source"),
        Index(None, "user_id", "id"),
        Index(
            "ix_focus_notifications_unread",
            "user_id",
            "id",
            postgresql_where=text("read_at IS NULL"),
        ),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    """`message`, `achievement`, …: preferences are per channel and kind."""
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(2000))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    source: Mapped[str] = mapped_column(String(200))
    read_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class Device(Base):
    """A push token: one user's at a time (the last to register it)."""

    __tablename__ = "devices"
    __table_args__ = (Index(None, "user_id"), {"schema": SCHEMA})

    token: Mapped[str] = mapped_column(String(512), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    platform: Mapped[Platform] = mapped_column(enum_type(Platform, "device_platform"))
    registered_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
