"""The events outbox: envelopes written in business transactions, waiting for the relay.

Each row has a position `(xid, seq)`: the writing transaction's id and a global sequence,
both set by the database on insert. The relay reads rows in position order, and only below
the oldest transaction still running, so a row committed late is never passed over (the
same horizon as Stock's change feed, see `docs/decisions/0003-gap-free-change-feed.md`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, Sequence, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.kernel.db import Base

SCHEMA = "events"
OUTBOX_SEQ = Sequence("outbox_seq", schema=SCHEMA)
CURRENT_XID = text("(pg_current_xact_id()::text)::bigint")


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
