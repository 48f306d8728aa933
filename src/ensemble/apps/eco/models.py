"""ECO² tables: one PostgreSQL schema per domain (appendix B of the seed document).

No domain reads another's tables: the scan domain keeps its own copy of registered images,
the character domain's ownership lives in the kernel event store, and the my domain's
stats are kept by events.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Double,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.kernel.db import Base, UuidPk, utcnow

SCHEMAS = AUTH, IMAGE, SCAN, CHARACTER, MY, LOCATION, CHAT = (
    "eco_auth",
    "eco_image",
    "eco_scan",
    "eco_character",
    "eco_my",
    "eco_location",
    "eco_chat",
)
TZ = DateTime(timezone=True)


def _enum(cls: type[enum.Enum], name: str, schema: str) -> Enum:
    return Enum(cls, name=name, schema=schema, values_callable=lambda e: [m.value for m in e])


# auth


class Role(enum.StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"


class User(Base):
    """An ECO² user: the kernel account (realm `eco`) and the app's role for it."""

    __tablename__ = "users"
    __table_args__ = {"schema": AUTH}

    account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role", AUTH), default=Role.USER)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class LoginAudit(Base):
    """One successful login, written by the `auth.audit` job after the login committed."""

    __tablename__ = "login_audit"
    __table_args__ = (Index(None, "account_id", "logged_in_at"), {"schema": AUTH})

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID]
    client_address: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    logged_in_at: Mapped[datetime] = mapped_column(TZ)
    recorded_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


# image


class UploadStatus(enum.StrEnum):
    PENDING = "pending"
    UPLOADED = "uploaded"
    REGISTERED = "registered"


class Upload(Base):
    """A presigned upload: pending until its bytes arrive, then registered as an image."""

    __tablename__ = "uploads"
    __table_args__ = (Index(None, "user_id", "created_at"), {"schema": IMAGE})

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID]
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[UploadStatus] = mapped_column(
        _enum(UploadStatus, "upload_status", IMAGE), default=UploadStatus.PENDING
    )
    storage_key: Mapped[str] = mapped_column(String(300))
    expires_at: Mapped[datetime] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    uploaded_at: Mapped[datetime | None] = mapped_column(TZ)


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (Index(None, "user_id", "created_at"), {"schema": IMAGE})

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID]
    upload_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


# scan


class ScanStatus(enum.StrEnum):
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class RewardStatus(enum.StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    FAILED = "failed"
    NOT_ELIGIBLE = "not_eligible"


class ScanImage(Base):
    """The scan domain's copy of a registered image, kept from `ImageRegistered`."""

    __tablename__ = "images"
    __table_args__ = {"schema": SCAN}

    image_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID]
    url: Mapped[str] = mapped_column(String(2000))
    content_type: Mapped[str | None] = mapped_column(String(100))
    registered_at: Mapped[datetime] = mapped_column(TZ)


class Scan(Base):
    """A classification task and its saga's state; its events go to the event store as the
    `eco.scan` stream numbered by `sequence`."""

    __tablename__ = "scans"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        Index(None, "status", "created_at"),
        Index(None, "user_id", "id"),
        {"schema": SCAN},
    )

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_digest: Mapped[str] = mapped_column(String(64))
    image_id: Mapped[uuid.UUID | None]
    image_url: Mapped[str | None] = mapped_column(String(2000))
    user_input: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[ScanStatus] = mapped_column(
        _enum(ScanStatus, "scan_status", SCAN), default=ScanStatus.PROCESSING
    )
    category: Mapped[str | None] = mapped_column(String(50))
    confidence: Mapped[float | None] = mapped_column(Double)
    disposal_guide: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reward_status: Mapped[RewardStatus | None] = mapped_column(
        _enum(RewardStatus, "reward_status", SCAN)
    )
    reward_character: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reward_reason: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(String(200))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow, onupdate=utcnow)


# character


class Character(Base):
    """A collectible character of the catalogue, granted for scans of its category."""

    __tablename__ = "catalogue"
    __table_args__ = (Index(None, "category", "display_order"), {"schema": CHARACTER})

    id: Mapped[UuidPk]
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(50))
    rarity: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    display_order: Mapped[int] = mapped_column(Integer)


# my


class Profile(Base):
    """A user's profile and the stats the saga keeps; its `ProfileUpdated` events form the
    `eco.profile` stream numbered by `sequence`."""

    __tablename__ = "profiles"
    __table_args__ = {"schema": MY}

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    nickname: Mapped[str | None] = mapped_column(String(50))
    total_scans: Mapped[int] = mapped_column(Integer, default=0)
    total_characters: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[datetime | None] = mapped_column(TZ)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow, onupdate=utcnow)


class Notification(Base):
    """What the saga told a user; one per source event (redelivery adds nothing)."""

    __tablename__ = "notifications"
    __table_args__ = (Index(None, "user_id", "id"), {"schema": MY})

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    source_event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


# location


class Centre(Base):
    """A recycling centre (sample data ships with the migrations; more by import)."""

    __tablename__ = "centres"
    __table_args__ = (Index(None, "lat", "lng"), {"schema": LOCATION})

    id: Mapped[UuidPk]
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(300))
    lat: Mapped[float] = mapped_column(Double)
    lng: Mapped[float] = mapped_column(Double)
    categories: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    phone: Mapped[str | None] = mapped_column(String(50))
    opening_hours: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow, onupdate=utcnow)


# chat


class ChatSession(Base):
    __tablename__ = "sessions"
    __table_args__ = (Index(None, "user_id", "id"), {"schema": CHAT})

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID]
    title: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class ChatMessage(Base):
    """A question (`user`) or the answer to one (`assistant`, `reply_to` the question)."""

    __tablename__ = "messages"
    __table_args__ = (Index(None, "session_id", "id"), {"schema": CHAT})

    id: Mapped[UuidPk]
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{CHAT}.sessions.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(50))
    reply_to: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
