"""Recording an admin action in the append-only audit log, in the action's own transaction
(an action rolled back leaves no entry; an entry is never rolled back alone). Never commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.audit.models import AuditEntry
from ensemble.kernel.db import new_id, utcnow


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
