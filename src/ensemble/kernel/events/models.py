"""The events tables: the outbox, the consumers' processed events and dead letters, and the
event store (stored events and snapshots of event-sourced aggregates).

The outbox holds envelopes written in business transactions, waiting for the relay.

Each row has a position `(xid, seq)`: the writing transaction's id and a global sequence,
both set by the database on insert. The relay reads rows in position order, and only below
the oldest transaction still running, so a row committed late is never passed over (the
same horizon as Stock's change feed, see `docs/decisions/0003-gap-free-change-feed.md`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Integer,
    Sequence,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.kernel.db import CURRENT_XID, Base, UuidPk, utcnow
from ensemble.kernel.jobs.models import DeadWork

SCHEMA = "events"
OUTBOX_SEQ = Sequence("outbox_seq", schema=SCHEMA)
CLOCK = text("clock_timestamp()")


class OutboxEvent(Base):
    """An event written with the change it describes; `published_at` is set by the relay."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_events_outbox_pending", "xid", "seq", postgresql_where=text("published_at IS NULL")
        ),
        {"schema": SCHEMA},
    )

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    xid: Mapped[int] = mapped_column(BigInteger, server_default=CURRENT_XID)
    seq: Mapped[int] = mapped_column(BigInteger, server_default=OUTBOX_SEQ.next_value())
    aggregate_type: Mapped[str] = mapped_column(String(100))
    aggregate_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProcessedEvent(Base):
    """An event a consumer has handled: inserted in the transaction of the handler's effects,
    so a redelivered event finds its row and is skipped."""

    __tablename__ = "processed_events"
    __table_args__ = {"schema": SCHEMA}

    consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    result: Mapped[Any | None] = mapped_column(JSONB)


class DeadLetter(DeadWork, Base):
    """A message a consumer gave up on (a business error, or transient errors past its
    attempts); `reprocessed_at` is set when it is sent through its stream again."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        DeadWork.pending_index("ix_events_dead_letters_pending", "consumer"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    consumer: Mapped[str] = mapped_column(String(200))
    stream: Mapped[str] = mapped_column(String(300))
    event_id: Mapped[uuid.UUID | None]
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONB)


class StoredEvent(Base):
    """One event of an event-sourced aggregate, numbered 1, 2, 3 … within its stream.

    The primary key `(aggregate_type, aggregate_id, sequence_number)` is the optimistic
    concurrency check: two writers appending the same next number collide on it. Rows are
    append-only (a trigger refuses UPDATE and DELETE). `recorded_at` is the database's clock
    at insert, `occurred_at` the writer's.
    """

    __tablename__ = "stored_events"
    __table_args__ = (UniqueConstraint("event_id"), {"schema": SCHEMA})

    aggregate_type: Mapped[str] = mapped_column(String(100), primary_key=True)
    aggregate_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    sequence_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=CLOCK)


class Snapshot(Base):
    """An aggregate's state after its event `sequence_number`, so loading replays only the
    events after it."""

    __tablename__ = "snapshots"
    __table_args__ = {"schema": SCHEMA}

    aggregate_type: Mapped[str] = mapped_column(String(100), primary_key=True)
    aggregate_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    sequence_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONB)
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=CLOCK)
