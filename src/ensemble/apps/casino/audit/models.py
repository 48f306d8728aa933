"""The audit log: one row per admin action, never changed (a trigger refuses UPDATE and
DELETE)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.models import SCHEMA, TZ
from ensemble.kernel.db import Base, UuidPk, utcnow


class AuditEntry(Base):
    """What an admin did, to what, when: written in the same transaction as the action."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_target", "target_type", "target_id", "id"),
        Index("ix_audit_log_admin", "admin_id", "id"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    """A UUID v7: the log's order."""
    admin_id: Mapped[uuid.UUID]
    """The acting admin (no foreign key: the log outlives a deleted account)."""
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
