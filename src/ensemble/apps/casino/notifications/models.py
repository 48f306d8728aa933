"""The inbox: one row per message to a member, numbered 1, 2, 3… per member with no gap."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.models import SCHEMA, TZ
from ensemble.kernel.db import Base, utcnow

USERS = f"{SCHEMA}.users.account_id"


class NotificationCursor(Base):
    """The last id given to a member's notifications: the next one takes `last_id + 1` in
    the same transaction, so ids are gap-free (a rolled-back message gives its id back)."""

    __tablename__ = "notification_cursors"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)


class Notification(Base):
    """One message to a member."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_unread", "user_id", "id", postgresql_where="read_at IS NULL"),
        Index("ix_notifications_created_at", "created_at"),
        {"schema": SCHEMA},
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """1, 2, 3… per member: what `Last-Event-ID` and `?after=` name."""
    category: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(2000), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(TZ)


class NotificationSettings(Base):
    """The categories a member muted on each channel (no row: nothing muted). Muted messages
    still land in the inbox; only their live, push or e-mail delivery is skipped."""

    __tablename__ = "notification_settings"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    muted_live: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    muted_push: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    muted_email: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
