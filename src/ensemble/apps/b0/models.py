"""B0 tables, in the `b0` schema. Points live in the kernel ledger (realm `b0`, `POINTS`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.kernel.db import Base, UuidPk, utcnow

SCHEMA = "b0"


class TicketStatus(StrEnum):
    PURCHASED = "PURCHASED"
    BOARDING = "BOARDING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class StayStatus(StrEnum):
    CHECKED_IN = "CHECKED_IN"
    EXTENDED = "EXTENDED"
    CHECKED_OUT = "CHECKED_OUT"


class GuestHouseType(StrEnum):
    MIXED = "MIXED"
    QUIET = "QUIET"


ACTIVE_STAYS = (StayStatus.CHECKED_IN, StayStatus.EXTENDED)
_ACTIVE_STAY_ROW = text("status IN ('CHECKED_IN', 'EXTENDED')")  # ACTIVE_STAYS, for indexes


def _enum(kind: type[StrEnum], name: str) -> Enum:
    return Enum(kind, name=name, schema=SCHEMA)


def _timestamp(**kwargs: Any) -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), **kwargs)


class Timestamped:
    created_at: Mapped[datetime] = _timestamp(default=utcnow)
    updated_at: Mapped[datetime] = _timestamp(default=utcnow, onupdate=utcnow)


class User(Timestamped, Base):
    __tablename__ = "users"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[UuidPk]
    email: Mapped[str | None] = mapped_column(String(320))
    nickname: Mapped[str | None] = mapped_column(String(10))
    profile: Mapped[str | None] = mapped_column(String(32))


class UserIdentity(Base):
    """Which provider account (`provider`, `provider_user_id` = the token's `sub`) is which user."""

    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("provider", "provider_user_id"), {"schema": SCHEMA})

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    provider_user_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = _timestamp(default=utcnow)


class City(Timestamped, Base):
    __tablename__ = "cities"
    __table_args__ = (
        CheckConstraint("base_cost_points > 0", name="cost_positive"),
        CheckConstraint("base_duration_hours > 0", name="duration_positive"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    base_cost_points: Mapped[int] = mapped_column(Integer)
    base_duration_hours: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    display_order: Mapped[int] = mapped_column(Integer, default=0)


class Airship(Timestamped, Base):
    __tablename__ = "airships"
    __table_args__ = (
        CheckConstraint("cost_factor > 0 AND duration_factor > 0", name="factors_positive"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    cost_factor: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    duration_factor: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    display_order: Mapped[int] = mapped_column(Integer, default=0)


class GuestHouse(Base):
    __tablename__ = "guest_houses"
    __table_args__ = (Index(None, "city_id"), {"schema": SCHEMA})

    id: Mapped[UuidPk]
    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.cities.id"))
    name: Mapped[str] = mapped_column(String(100))
    guest_house_type: Mapped[GuestHouseType] = mapped_column(
        _enum(GuestHouseType, "guest_house_type"), default=GuestHouseType.MIXED
    )
    created_at: Mapped[datetime] = _timestamp(default=utcnow)


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (
        Index(None, "guest_house_id"),
        CheckConstraint(
            "current_occupancy >= 0 AND current_occupancy <= capacity", name="occupancy_in_range"
        ),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    guest_house_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.guest_houses.id"))
    capacity: Mapped[int] = mapped_column(Integer, default=6)
    current_occupancy: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _timestamp(default=utcnow)


class Ticket(Timestamped, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_user_created", "user_id", "created_at", "id"),
        Index(
            "ix_tickets_boarding_arrival",
            "arrival_datetime",
            postgresql_where=text("status = 'BOARDING'"),
        ),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    ticket_number: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.users.id"))
    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.cities.id"))
    airship_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.airships.id"))
    city_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    airship_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cost_points: Mapped[int] = mapped_column(Integer)
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus, "ticket_status"))
    departure_datetime: Mapped[datetime] = _timestamp()
    arrival_datetime: Mapped[datetime] = _timestamp()
    completed_at: Mapped[datetime | None] = _timestamp()
    cancelled_at: Mapped[datetime | None] = _timestamp()


class RoomStay(Timestamped, Base):
    __tablename__ = "room_stays"
    __table_args__ = (
        Index(
            "uq_room_stays_active_user", "user_id", unique=True, postgresql_where=_ACTIVE_STAY_ROW
        ),
        Index("ix_room_stays_active_room", "room_id", postgresql_where=_ACTIVE_STAY_ROW),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.users.id"))
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.rooms.id"))
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.tickets.id"), unique=True)
    status: Mapped[StayStatus] = mapped_column(_enum(StayStatus, "stay_status"))
    check_in_at: Mapped[datetime] = _timestamp()
    scheduled_check_out_at: Mapped[datetime] = _timestamp()
    actual_check_out_at: Mapped[datetime | None] = _timestamp()


class Diary(Base):
    __tablename__ = "diaries"
    __table_args__ = (UniqueConstraint("user_id", "diary_date"), {"schema": SCHEMA})

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.users.id"))
    diary_date: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    mood: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = _timestamp(default=utcnow)


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[UuidPk]
    content: Mapped[str] = mapped_column(String(500))
    display_order: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("user_id", "question_id"), {"schema": SCHEMA})

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.users.id"))
    question_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.questions.id"))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _timestamp(default=utcnow)


class ChatMessage(Base):
    """A room's chat line; `user_id` is null for system notices (check-in, check-out)."""

    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_room_time", "room_id", "created_at", "id"), {"schema": SCHEMA})

    id: Mapped[UuidPk]
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.rooms.id"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(f"{SCHEMA}.users.id"))
    content: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = _timestamp(default=utcnow)
