"""Reports, in the `focus` schema: what users flag for the moderators."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.focus.models import SCHEMA, TZ, enum_type
from ensemble.kernel.db import Base, UuidPk, utcnow


class TargetType(enum.StrEnum):
    USER = "user"
    POST = "post"
    COMMENT = "comment"
    MESSAGE = "message"
    ROOM = "room"


class ReportStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


OPEN_ONLY = text("status = 'open'")
"""The predicate of `uq_reports_open` (an upsert names it to infer that index)."""


class Report(Base):
    """A user's report of a user, post, comment, message or room: at most one open report
    per reporter and target (`uq_reports_open`)."""

    __tablename__ = "reports"
    __table_args__ = (
        Index(
            "uq_reports_open",
            "reporter_id",
            "target_type",
            "target_id",
            unique=True,
            postgresql_where=OPEN_ONLY,
        ),
        Index(None, "status", "id"),
        {"schema": SCHEMA},
    )

    id: Mapped[UuidPk]
    reporter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(f"{SCHEMA}.users.account_id"))
    target_type: Mapped[TargetType] = mapped_column(enum_type(TargetType, "report_target"))
    target_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(String(1000))
    status: Mapped[ReportStatus] = mapped_column(
        enum_type(ReportStatus, "report_status"), default=ReportStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(TZ)
    resolved_by: Mapped[uuid.UUID | None]
    resolution: Mapped[str | None] = mapped_column(String(1000))
    """What the moderator did or decided, in their words."""
