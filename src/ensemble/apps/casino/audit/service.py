"""Recording an admin action in the append-only audit log, in the action's own transaction
(an action rolled back leaves no entry; an entry is never rolled back alone). Never commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.audit.models import AuditEntry
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.pagination import Page, PageRequest, newest_first


async def record(
    session: AsyncSession,
    admin_id: uuid.UUID,
    action: str,
    target_type: str,
    target_id: object,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Log that `admin_id` did `action` (`reward.grant`, `product.update`…) to
    `target_type`/`target_id`, with what the request asked in `details`."""
    entry = AuditEntry(
        id=new_id(),
        admin_id=admin_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=dict(details or {}),
        at=utcnow(),
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries(
    session: AsyncSession,
    page: PageRequest,
    *,
    admin_id: uuid.UUID | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
) -> Page[AuditEntry]:
    """The log, the newest first, narrowed to an admin, an action, a target (type, id)."""
    query = select(AuditEntry)
    for column, value in (
        (AuditEntry.admin_id, admin_id),
        (AuditEntry.action, action),
        (AuditEntry.target_type, target_type),
        (AuditEntry.target_id, target_id),
    ):
        if value is not None:
            query = query.where(column == value)
    return await newest_first(session, query, page, AuditEntry.id)
