"""Jobs' own tables: the outbox of requested jobs and the log of jobs that finally failed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.kernel.db import Base, UuidPk, utcnow

SCHEMA = "jobs"


class DeadWork:
    """The columns a dead letter and a dead job share: how it failed, after how many
    attempts, and when it was re-driven (`reprocessed_at`, unset while it is pending)."""

    error: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer)
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reprocessed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @staticmethod
    def pending_index(name: str, queue: str) -> Index:
        """The items not re-driven yet, by queue (`queue` names its column) in id order."""
        return Index(name, queue, "id", postgresql_where=text("reprocessed_at IS NULL"))


class OutboxJob(Base):
    """A job requested inside a business transaction; the relay sends it once committed.

    Written in the same transaction as the change that asks for it, so a rollback never
    sends it and a crash after commit never loses it (the relay finds it on its next pass).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "run_at", postgresql_where=text("dispatched_at IS NULL")),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    job: Mapped[str] = mapped_column(String(200))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    trace_id: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TaskFailure(DeadWork, Base):
    """A job that failed for good (a business error, or transient errors past its retries):
    a dead job; `reprocessed_at` is set when it is requested again."""

    __tablename__ = "task_failure_log"
    __table_args__ = (
        Index(None, "job", "failed_at"),
        DeadWork.pending_index("ix_jobs_task_failure_log_pending", "job"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    job: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(64))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    error_type: Mapped[str] = mapped_column(String(200))
