"""Actions' tables: the enumerated action types (reference data admins extend) and the
actions members recorded."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.models import SCHEMA, TZ
from ensemble.kernel.db import Base, UuidPk, utcnow


class ActionType(Base):
    """An action type members may record (seeded by the migration, extended by admins)."""

    __tablename__ = "action_types"
    __table_args__ = {"schema": SCHEMA}

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[uuid.UUID | None]
    """The admin who added it (None for the seeded ones)."""
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class Action(Base):
    """One action of a member, its context stripped of personal data. The id is a UUID v7,
    so the id orders a member's actions in time."""

    __tablename__ = "actions"
    __table_args__ = (
        Index("ix_actions_user_id", "user_id", "id"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE")
    )
    action_type: Mapped[str] = mapped_column(String(64), ForeignKey(f"{SCHEMA}.action_types.code"))
    context: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
