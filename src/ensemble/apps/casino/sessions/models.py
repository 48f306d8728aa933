"""Game sessions: a member's stretch of play at one game; at most one open per member."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.domain import GameType
from ensemble.apps.casino.models import SCHEMA, TZ, enum_type
from ensemble.kernel.db import Base, UuidPk, utcnow


class GameSession(Base):
    """A game session: open while `ended_at` is null (one per member, by a partial unique
    index); its play time is `ended_at - started_at`."""

    __tablename__ = "game_sessions"
    __table_args__ = (
        Index(
            "uq_game_sessions_one_open",
            "user_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_game_sessions_user_started", "user_id", "started_at"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE")
    )
    game_type: Mapped[GameType] = mapped_column(enum_type(GameType, "game_type"))
    started_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(TZ)
