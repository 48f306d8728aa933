"""Notifications: sending one (stored in the member's inbox under the next gap-free id, in
the sender's transaction; published live and sent on push and e-mail only once it commits),
the inbox, read marks, mute settings, the backlog a resuming stream replays, retention and
the outside channels' delivery. Never commit.

Other parts send with `notify(session, user_id, NotificationCategory.X, title, body=, data=)`:
a rolled-back sender notifies nobody."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.domain import NotificationCategory
from ensemble.apps.casino.notifications import live
from ensemble.apps.casino.notifications.domain import (
    OUTSIDE,
    REPLAY_LIMIT,
    Channel,
    delivered,
    replayable,
    unmutable_in,
)
from ensemble.apps.casino.notifications.models import (
    Notification,
    NotificationCursor,
    NotificationSettings,
)
from ensemble.apps.casino.notifications.ports import Message, Ports
from ensemble.apps.casino.notifications.schemas import NotificationPublic
from ensemble.kernel.db import utcnow
from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.errors import InvalidInput
from ensemble.kernel.identity.models import Account
from ensemble.kernel.pagination import Page, PageRequest, paginate

logger = logging.getLogger(__name__)


class CategoryNotMutable(InvalidInput):
    code = "category_not_mutable"
    message = "Responsible-play messages cannot be muted."


# Sending


_SEND = """
WITH taken AS (
    INSERT INTO casino.notification_cursors AS cursor (user_id, last_id) VALUES ($1, 1)
    ON CONFLICT (user_id) DO UPDATE SET last_id = cursor.last_id + 1
    RETURNING last_id
)
INSERT INTO casino.notifications (user_id, id, category, title, body, data, created_at)
SELECT $1, last_id, $2, $3, $4, $5::jsonb, $6 FROM taken
RETURNING id
"""
"""The member's next id (the cursor row stays locked until the transaction ends, so
concurrent senders to one member queue: ids never repeat, and one rolled back is given
again) and the message under it, in one round trip."""


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
    transaction); once it commits, it is published to the member's live streams and its
    push and e-mail delivery jobs (requested here, in the same transaction) run."""
    from ensemble.apps.casino.tasks import notification_out

    notification = Notification(
        user_id=user_id,
        category=category.value,
        title=title[:200],
        body=body[:2000],
        data=dict(data or {}),
        created_at=utcnow(),
    )
    connection = await transaction_connection(session)
    notification.id = await connection.fetchval(
        _SEND, user_id, notification.category, notification.title, notification.body,
        json.dumps(notification.data, separators=(",", ":")), notification.created_at,
    )  # fmt: skip
    live.publish_after_commit(session, user_id, public(notification))
    for channel in OUTSIDE:
        await notification_out.enqueue(
            session, user_id=str(user_id), notification_id=notification.id, channel=channel.value
        )
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
    transaction), published to their live streams once it commits; how many were sent.
    Cursors are taken in member order, so two such sends never deadlock. (No push or e-mail:
    a campaign is an inbox message.)"""
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
    created_at, content = utcnow(), dict(data or {})
    values = select(
        taken.c.user_id,
        taken.c.last_id,
        literal(category.value),
        literal(title),
        literal(body),
        literal(content, JSONB),
        literal(created_at),
    )
    sent = (
        insert(Notification)
        .from_select(columns, values)
        .returning(Notification.user_id, Notification.id)
    )
    rows = (await session.execute(sent)).all()
    message = NotificationPublic(
        id=0, category=category, title=title, body=body, data=content,
        created_at=created_at, read_at=None,
    ).model_dump(mode="json")  # fmt: skip
    live.publish_many_after_commit(
        session, [(user_id, {**message, "id": number}) for user_id, number in rows]
    )
    return len(rows)


def public(notification: Notification) -> dict[str, Any]:
    """The message as clients see it (JSON-ready)."""
    return NotificationPublic.model_validate(notification).model_dump(mode="json")


# The inbox


def _mine(user_id: uuid.UUID) -> Any:
    return Notification.user_id == user_id


async def inbox(
    session: AsyncSession,
    user_id: uuid.UUID,
    page: PageRequest,
    *,
    unread: bool,
    category: NotificationCategory | None,
) -> Page[Notification]:
    """The member's notifications, newest first."""
    statement = select(Notification).where(_mine(user_id))
    if unread:
        statement = statement.where(Notification.read_at.is_(None))
    if category is not None:
        statement = statement.where(Notification.category == category.value)
    return await paginate(
        session, statement, page, keys=[Notification.id], item=lambda n: n, descending=True
    )


async def unread_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    found = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(_mine(user_id), Notification.read_at.is_(None))
    )
    return int(found or 0)


async def mark_read(
    session: AsyncSession, user_id: uuid.UUID, ids: Sequence[int] | None, *, now: datetime
) -> tuple[int, int]:
    """Mark the member's notifications of `ids` (all of them with None) read: how many were
    unread, and how many stay unread."""
    statement = update(Notification).where(_mine(user_id), Notification.read_at.is_(None))
    if ids is not None:
        statement = statement.where(Notification.id.in_(sorted(set(ids))))
    marked = await session.execute(
        statement.values(read_at=now).returning(Notification.id),
    )
    return len(marked.all()), await unread_count(session, user_id)


# Settings


@dataclass(frozen=True)
class Mutes:
    """The categories a member muted on each channel."""

    live: frozenset[str] = frozenset()
    push: frozenset[str] = frozenset()
    email: frozenset[str] = frozenset()

    def of(self, channel: Channel) -> frozenset[str]:
        return {Channel.LIVE: self.live, Channel.PUSH: self.push, Channel.EMAIL: self.email}[
            channel
        ]

    def lists(self) -> dict[str, list[str]]:
        return {
            "muted_live": sorted(self.live),
            "muted_push": sorted(self.push),
            "muted_email": sorted(self.email),
        }


async def mutes(session: AsyncSession, user_id: uuid.UUID) -> Mutes:
    found = await session.get(NotificationSettings, user_id)
    if found is None:
        return Mutes()
    return Mutes(*(frozenset(m) for m in (found.muted_live, found.muted_push, found.muted_email)))


async def set_mutes(session: AsyncSession, user_id: uuid.UUID, wanted: Mutes) -> Mutes:
    """Replace the member's mutes (422 `category_not_mutable` for responsible play); the
    member's open streams apply the live ones once this commits."""
    refused = unmutable_in(wanted.live | wanted.push | wanted.email)
    if refused:
        raise CategoryNotMutable(details={"categories": refused})
    values = {**wanted.lists(), "updated_at": utcnow()}
    await session.execute(
        insert(NotificationSettings)
        .values(user_id=user_id, **values)
        .on_conflict_do_update(index_elements=[NotificationSettings.user_id], set_=values)
    )
    live.publish_after_commit(
        session, user_id, {"type": live.SETTINGS, "muted_live": sorted(wanted.live)}
    )
    return wanted


# Replay


@dataclass(frozen=True)
class Backlog:
    """What a stream resuming after `after` sends: the messages it missed, in order, or
    None when they cannot be replayed (a `resync` to `last_id`)."""

    last_id: int
    messages: list[dict[str, Any]] | None


async def last_id_of(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The member's last notification id (0 before the first)."""
    last = await session.scalar(
        select(NotificationCursor.last_id).where(NotificationCursor.user_id == user_id)
    )
    return int(last or 0)


async def backlog(session: AsyncSession, user_id: uuid.UUID, after: int) -> Backlog:
    last_id = await last_id_of(session, user_id)
    if after > last_id or last_id - after > REPLAY_LIMIT:
        return Backlog(last_id, None)
    rows = list(
        await session.scalars(
            select(Notification)
            .where(_mine(user_id), Notification.id > after)
            .order_by(Notification.id)
            .limit(REPLAY_LIMIT)
        )
    )
    if not replayable(after, last_id, [row.id for row in rows]):
        return Backlog(max(last_id, rows[-1].id if rows else 0), None)
    return Backlog(max(last_id, rows[-1].id if rows else after), [public(row) for row in rows])


# Retention


async def delete_expired(session: AsyncSession, *, before: datetime) -> int:
    """Delete the notifications created before `before`; how many. A stream resuming from
    one of them gets a `resync`."""
    deleted = await session.execute(
        delete(Notification).where(Notification.created_at < before).returning(Notification.id)
    )
    return len(deleted.all())


# Push and e-mail


async def deliver(
    session: AsyncSession,
    user_id: uuid.UUID,
    notification_id: int,
    channel: Channel,
    ports: Ports,
) -> bool:
    """Send a notification on push or e-mail unless the member muted its category there
    (the job's body); whether it went out."""
    notification = await session.get(Notification, (user_id, notification_id))
    if notification is None:  # deleted by retention, or its member is gone
        return False
    if not delivered(notification.category, (await mutes(session, user_id)).of(channel)):
        logger.info("notification %s/%s: %s muted", user_id, notification_id, channel)
        return False
    message = Message(
        user_id, notification.id, notification.category, notification.title, notification.body
    )
    if channel is Channel.EMAIL:
        account = await session.get(Account, user_id)
        if account is None:
            return False
        await ports.email.send(account.email, message)
    else:
        await ports.push.send(user_id, message)
    return True
