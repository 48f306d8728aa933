"""Focus Mate's core tables, in the `focus` schema: users and their settings, rooms with their
timer, members and bans, presence spans and the focus sessions credited from them.

Community, messages, notifications and achievements keep their tables in their own
sub-packages' `models.py`, in the same schema.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.focus.domain import Phase, TimerState
from ensemble.kernel.db import Base, UuidPk, utcnow

SCHEMA = "focus"
TZ = DateTime(timezone=True)


def enum_type(cls: type[enum.Enum], name: str) -> Enum:
    """A PostgreSQL enum in the focus schema, stored by value."""
    return Enum(cls, name=name, schema=SCHEMA, values_callable=lambda e: [m.value for m in e])


class Role(enum.StrEnum):
    USER = "USER"
    MODERATOR = "MODERATOR"
    ADMIN = "ADMIN"


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class Control(enum.StrEnum):
    OWNER = "owner"
    EVERYONE = "everyone"


# users


class User(Base):
    """A Focus Mate user: the kernel account (realm `focus`), its public name and role."""

    __tablename__ = "users"
    __table_args__ = {"schema": SCHEMA}

    account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(50))
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"), default=Role.USER)
    suspended_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class UserSettings(Base):
    """What a user chose: time zone, defaults for new rooms, notifications, sound, presence.
    Kept apart from `users`, which authenticates callers: a settings change leaves every
    process's auth cache alone."""

    __tablename__ = "user_settings"
    __table_args__ = {"schema": SCHEMA}

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    work_minutes: Mapped[int] = mapped_column(Integer, default=25)
    break_minutes: Mapped[int] = mapped_column(Integer, default=5)
    long_break_minutes: Mapped[int] = mapped_column(Integer, default=15)
    sound: Mapped[bool] = mapped_column(Boolean, default=True)
    presence_visible: Mapped[bool] = mapped_column(Boolean, default=True)
    notifications: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    """Per channel and kind: `{"email": {"achievement": false}, ...}`; absent means on."""
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow, onupdate=utcnow)


# rooms


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (
        Index(None, "visibility", "id", postgresql_where=text("deleted_at IS NULL")),
        Index(None, "owner_id"),
        UniqueConstraint("join_code"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.users.account_id"))
    name: Mapped[str] = mapped_column(String(50))
    work_minutes: Mapped[int] = mapped_column(Integer)
    break_minutes: Mapped[int] = mapped_column(Integer)
    long_break_minutes: Mapped[int] = mapped_column(Integer)
    long_break_every: Mapped[int] = mapped_column(Integer)
    max_participants: Mapped[int] = mapped_column(Integer)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    """Kept with every join and leave, in the same statement that checks the capacity."""
    visibility: Mapped[Visibility] = mapped_column(enum_type(Visibility, "visibility"))
    join_code: Mapped[str | None] = mapped_column(String(16))
    control: Mapped[Control] = mapped_column(enum_type(Control, "control"))
    auto_start_breaks: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow, onupdate=utcnow)
    last_active_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    """The last join (or the last presence, if the socket part keeps it); archiving counts
    from the later of this and `emptied_at`."""
    emptied_at: Mapped[datetime | None] = mapped_column(TZ)
    """When the last present participant left (None while someone is present)."""
    archived_at: Mapped[datetime | None] = mapped_column(TZ)
    deleted_at: Mapped[datetime | None] = mapped_column(TZ)
    deleted_by: Mapped[uuid.UUID | None]
    """The owner, or the moderator who closed the room."""


class Timer(Base):
    """A room's timer, the truth for every process: written compare-and-set on `version`."""

    __tablename__ = "timers"
    __table_args__ = (
        Index(None, "phase_ends_at", postgresql_where=text("state = 'running'")),
        {"schema": SCHEMA},
    )

    room_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.rooms.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[TimerState] = mapped_column(enum_type(TimerState, "timer_state"))
    phase: Mapped[Phase] = mapped_column(enum_type(Phase, "phase"))
    phase_started_at: Mapped[datetime | None] = mapped_column(TZ)
    phase_ends_at: Mapped[datetime | None] = mapped_column(TZ)
    paused_remaining_ms: Mapped[int | None] = mapped_column(BigInteger)
    completed_work_phases: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class Member(Base):
    """A participant of a room (REST membership); the row goes when they leave."""

    __tablename__ = "room_members"
    __table_args__ = (Index(None, "user_id"), {"schema": SCHEMA})

    room_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class Ban(Base):
    __tablename__ = "room_bans"
    __table_args__ = {"schema": SCHEMA}

    room_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    banned_by: Mapped[uuid.UUID]
    banned_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


# presence and sessions


class PresenceSpan(Base):
    """A stretch of time a user was present in a room (a socket open, reconnects within the
    grace joined into one); `ended_at` None while it lasts. Work phases credit from it."""

    __tablename__ = "presence_spans"
    __table_args__ = (
        Index(None, "room_id", "user_id", "started_at"),
        Index(
            "uq_presence_spans_open",
            "room_id",
            "user_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
        ),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.rooms.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID]
    started_at: Mapped[datetime] = mapped_column(TZ)
    ended_at: Mapped[datetime | None] = mapped_column(TZ)


class FocusSession(Base):
    """One participant's part in one work phase of a room: opened when the phase starts (or
    when they arrive during it; the goal can be set then), closed once when it ends (unique
    on room, user and phase start, so the jobs that write it are idempotent)."""

    __tablename__ = "focus_sessions"
    __table_args__ = (
        UniqueConstraint("room_id", "user_id", "started_at"),
        Index(None, "user_id", "started_at"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    user_id: Mapped[uuid.UUID]
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.rooms.id"))
    started_at: Mapped[datetime] = mapped_column(TZ)
    ended_at: Mapped[datetime | None] = mapped_column(TZ)
    focus_seconds: Mapped[int | None] = mapped_column(Integer)
    completed: Mapped[bool | None] = mapped_column(Boolean)
    interrupted_reason: Mapped[str | None] = mapped_column(String(32))
    """Why it did not complete: cut short by `skipped`, `reset`, `left`, `kicked`, `removed`
    (by a moderator) or `room_deleted`; or it ran its course with its user present under
    `COMPLETED_SHARE` of it, `absent`. None when completed."""
    goal: Mapped[str | None] = mapped_column(String(200))
    goal_done: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
