"""Accounts per realm (one realm per app), refresh-token families and throttle counters."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.kernel.db import Base, UuidPk, utcnow

SCHEMA = "identity"


class Account(Base):
    """A login identity inside one realm: the same email in two apps is two accounts."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("realm", "email"), {"schema": SCHEMA})

    id: Mapped[UuidPk]
    realm: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RefreshToken(Base):
    """One issued refresh token; tokens rotated from one login share a `family_id`."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index(None, "family_id"), Index(None, "account_id"), {"schema": SCHEMA})

    jti: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    family_id: Mapped[uuid.UUID]
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.accounts.id", ondelete="CASCADE")
    )
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ThrottleCounter(Base):
    """Attempts counted for one throttle key (a login key or a client address) in the current
    fixed window; counted and checked in one atomic upsert (`throttle.charge`)."""

    __tablename__ = "throttle_counters"
    __table_args__ = (Index(None, "window_started_at"), {"schema": SCHEMA})

    realm: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(Integer)
