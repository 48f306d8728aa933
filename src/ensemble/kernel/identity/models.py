"""Accounts per realm (one realm per app), refresh-token families and login failures."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.kernel.db import Base, new_id, utcnow

SCHEMA = "identity"


class Account(Base):
    """A login identity inside one realm: the same email in two apps is two accounts."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("realm", "email"), {"schema": SCHEMA})

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
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


class LoginFailure(Base):
    """A failed login, counted per subject (email or client address) for throttling."""

    __tablename__ = "login_failures"
    __table_args__ = (Index(None, "realm", "subject", "failed_at"), {"schema": SCHEMA})

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    realm: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(400))
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeniedToken(Base):
    """An access token revoked before its expiry (logout); kept until it would have expired."""

    __tablename__ = "denied_tokens"
    __table_args__ = (Index(None, "expires_at"), {"schema": SCHEMA})

    jti: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    realm: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
