"""Sending a member a notification: stored in their inbox under the next gap-free id, in the
sender's transaction (a rolled-back grant notifies nobody). Never commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.domain import NotificationCategory
from ensemble.apps.casino.notifications.models import Notification, NotificationCursor
from ensemble.kernel.db import utcnow


async def next_id(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The member's next notification id, taken in this transaction (the cursor row stays
    locked until it ends, so concurrent senders to one member queue: ids never repeat, and
    one rolled back is given again)."""
    statement = insert(NotificationCursor).values(user_id=user_id, last_id=1)
    taken = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=[NotificationCursor.user_id],
            set_={"last_id": NotificationCursor.last_id + literal(1)},
        ).returning(NotificationCursor.last_id)
    )
    assert taken is not None
    return int(taken)


async def notify(
    session: AsyncSession,
    user_id: uuid.UUID,
    category: NotificationCategory,
    title: str,
    *,
    body: str = "",
    data: Mapping[str, Any] | None = None,
) -> Notification:
    """Put a message in the member's inbox under their next id (in the caller's
    transaction)."""
    notification = Notification(
        user_id=user_id,
        id=await next_id(session, user_id),
        category=category.value,
        title=title,
        body=body,
        data=dict(data or {}),
        created_at=utcnow(),
    )
    session.add(notification)
    await session.flush()
    return notification


async def notify_many(
    session: AsyncSession,
    recipients: Select[uuid.UUID],
    category: NotificationCategory,
    title: str,
    *,
    body: str = "",
    data: Mapping[str, Any] | None = None,
) -> int:
    """Put one message in the inbox of every member `recipients` selects (one user id
    column, no duplicates), each under their next id, in one statement (the caller's
    transaction); how many were sent. Cursors are taken in member order, so two such sends
    never deadlock."""
    targets = recipients.order_by(recipients.selected_columns[0]).cte("targets")
    taken = (
        insert(NotificationCursor)
        .from_select(["user_id", "last_id"], select(targets.c[0], literal(1)))
        .on_conflict_do_update(
            index_elements=[NotificationCursor.user_id],
            set_={"last_id": NotificationCursor.last_id + literal(1)},
        )
        .returning(NotificationCursor.user_id, NotificationCursor.last_id)
        .cte("taken")
    )
    columns = ["user_id", "id", "category", "title", "body", "data", "created_at"]
    values = select(
        taken.c.user_id,
        taken.c.last_id,
        literal(category.value),
        literal(title),
        literal(body),
        literal(dict(data or {}), JSONB),
        literal(utcnow()),
    )
    sent = insert(Notification).from_select(columns, values).returning(Notification.id).cte("sent")
    return int(await session.scalar(select(func.count()).select_from(sent)) or 0)
