"""A member's status, kept beside `casino.users` (a missing row is `active`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ensemble.apps.casino.domain import UserStatus
from ensemble.apps.casino.models import SCHEMA, TZ, enum_type
from ensemble.kernel.db import Base, utcnow


class MemberStatus(Base):
    """The status an admin last gave a member, why, by whom and when (the history is in the
    audit log). Every change tells the auth caches (decision 22): the caller resolver reads
    it on each uncached request."""

    __tablename__ = "member_status"
    __table_args__ = {"schema": SCHEMA}

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(f"{SCHEMA}.users.account_id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[UserStatus] = mapped_column(enum_type(UserStatus, "user_status"))
    reason: Mapped[str | None] = mapped_column(String(500))
    changed_by: Mapped[uuid.UUID]
    changed_at: Mapped[datetime] = mapped_column(TZ, default=utcnow)
