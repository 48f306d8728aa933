"""The tables of 1:1 messages, in the `focus` schema: conversations (one per pair of users),
each user's side of one (how far they read), the messages and the blocks."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.focus.models import SCHEMA, TZ
from ensemble.kernel.db import Base, UuidPk, utcnow

USERS = f"{SCHEMA}.users.account_id"


class Conversation(Base):
    """A conversation of two users: one per pair, whichever opened it (unique on the pair,
    the smaller id first). `last_seq` numbers its messages, taken under the row's lock, so
    the numbers follow the order in which messages commit."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("user_low", "user_high"),
        CheckConstraint("user_low < user_high", name="ordered_pair"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    user_low: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    user_high: Mapped[uuid.UUID] = mapped_column(ForeignKey(USERS, ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_message_id: Mapped[uuid.UUID | None]
    last_activity_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    """When it was opened, then when its last message was sent (lists are ordered by it)."""


class ConversationMember(Base):
    """One user's side of a conversation: who the other is and how far they read."""

    __tablename__ = "conversation_members"
    __table_args__ = (Index(None, "user_id"), {"schema": SCHEMA})

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    peer_id: Mapped[uuid.UUID]
    last_read_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Message(Base):
    """A message, numbered in its conversation. Its id may be the client's (or derived from
    its `Idempotency-Key`), so that sending twice stores one message."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("conversation_id", "seq"), {"schema": SCHEMA})

    id: Mapped[UuidPk]
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    sender_id: Mapped[uuid.UUID]
    text: Mapped[str] = mapped_column(String(2000))
    """As sent (1–2,000 characters), never rendered."""
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)


class Block(Base):
    """`blocker_id` blocked `blocked_id`: no new conversation and no message between them,
    either way (see `service.ensure_not_blocked`)."""

    __tablename__ = "blocks"
    __table_args__ = (
        Index(None, "blocked_id"),
        Index(None, "blocker_id", "created_at"),
        {"schema": SCHEMA},
    )

    blocker_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    blocked_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(USERS, ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
