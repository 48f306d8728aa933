"""A member's seed pairs: the one in use (not revealed) and the revealed ones."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.models import SCHEMA, TZ
from ensemble.kernel.db import Base, UuidPk, utcnow


class SeedPair(Base):
    """A server seed (secret until `revealed_at`), its published hash, the client seed it
    is played with and the last nonce played (0 before any play). A member has at most
    one pair not revealed: the one plays use."""

    __tablename__ = "seed_pairs"
    __table_args__ = (
        CheckConstraint("nonce >= 0", name="nonce_not_negative"),
        Index(
            "uq_seed_pairs_active",
            "user_id",
            unique=True,
            postgresql_where=text("revealed_at IS NULL"),
        ),
        Index("ix_seed_pairs_user_revealed", "user_id", "revealed_at", "id"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE")
    )
    server_seed: Mapped[str] = mapped_column(String(64))
    server_seed_hash: Mapped[str] = mapped_column(String(64))
    client_seed: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    revealed_at: Mapped[datetime | None] = mapped_column(TZ)
