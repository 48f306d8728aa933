"""Notification use cases: notify a user (the inbox row, then its delivery on every channel
by jobs), the inbox, read marks, push devices, and the achievement consumer's handler.
Never commit.

Other domains notify through `notify(session, user_id, kind=…, title=…, body=…, source=…)`:
`source` names the cause, once per user (the same cause notifies once)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.domain import Channel, NotificationKind, allows
from ensemble.apps.focus.events import AchievementUnlocked, CommentAdded
from ensemble.apps.focus.models import UserSettings
from ensemble.apps.focus.notifications import repository
from ensemble.apps.focus.notifications.channels import (
    Notice,
    Notifier,
    PushTarget,
    Recipient,
)
from ensemble.apps.focus.notifications.models import Device, Notification, Platform
from ensemble.apps.focus.notifications.tasks import deliver_notification
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import NotFound
from ensemble.kernel.events import Envelope
from ensemble.kernel.identity.models import Account
from ensemble.kernel.pagination import Page, PageRequest

logger = logging.getLogger(__name__)

"""The kinds this package sends (preferences are per channel and kind)."""


class DeviceNotFound(NotFound):
    code = "device_not_found"
    message = "No such device of yours."


# Sending


async def notify(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    kind: str,
    title: str,
    body: str,
    source: str,
    data: Mapping[str, Any] | None = None,
) -> Notification | None:
    """Put a notification in the user's inbox and request its delivery on every channel
    after commit; None (and nothing sent) if `source` already notified this user."""
    notification = await repository.notifications.insert_once(
        session,
        {
            "id": new_id(),
            "user_id": user_id,
            "kind": kind,
            "title": title[:200],
            "body": body[:2000],
            "data": dict(data or {}),
            "source": source[:200],
            "created_at": utcnow(),
        },
    )
    if notification is None:
        return None
    for channel in Channel:
        await deliver_notification.enqueue(
            session, notification_id=str(notification.id), channel=channel.value
        )
    return notification


async def deliver(
    session: AsyncSession,
    notification_id: uuid.UUID,
    channel: Channel,
    notifiers: Mapping[Channel, Notifier],
) -> bool:
    """Send a notification on `channel` unless the user turned it off there (the job's
    body); whether it went out."""
    notification = await repository.notifications.get(session, notification_id)
    if notification is None:  # its user is gone
        return False
    settings = await session.get(UserSettings, notification.user_id)
    if not allows(settings.notifications if settings else {}, channel, notification.kind):
        logger.info("notification %s: %s off for its kind", notification.id, channel)
        return False
    recipient = await _recipient(session, notification.user_id, devices=channel is Channel.PUSH)
    await notifiers[channel].send(recipient, Notice.of(notification))
    return True


async def _recipient(session: AsyncSession, user_id: uuid.UUID, *, devices: bool) -> Recipient:
    account = await session.get(Account, user_id)
    found = await repository.devices.of_user(session, user_id) if devices else ()
    reachable = [PushTarget(device.token, device.platform) for device in found]
    return Recipient(user_id, account.email if account else "", reachable)


async def achievement_unlocked(session: AsyncSession, envelope: Envelope) -> str:
    """The `achievement` notification of an unlock (once per user and achievement)."""
    unlocked = envelope.payload_as(AchievementUnlocked)
    notification = await notify(
        session,
        unlocked.user_id,
        kind=NotificationKind.ACHIEVEMENT,
        title=f"Achievement unlocked: {unlocked.name}",
        body=f"You unlocked “{unlocked.name}”.",
        source=f"achievement:{unlocked.code}",
        data={"code": unlocked.code, "unlocked_at": unlocked.unlocked_at.isoformat()},
    )
    return "notified" if notification is not None else "duplicate"


async def comment_added(session: AsyncSession, envelope: Envelope) -> str:
    """The post's author hears of a comment on it (not of their own)."""
    added = envelope.payload_as(CommentAdded)
    if added.author_id == added.post_author_id:
        return "own comment"
    notification = await notify(
        session,
        added.post_author_id,
        kind=NotificationKind.COMMUNITY,
        title="New comment on your post",
        body="Someone commented on your post.",
        source=f"comment:{added.comment_id}",
        data={"post_id": str(added.post_id), "comment_id": str(added.comment_id)},
    )
    return "notified" if notification is not None else "duplicate"


# The inbox


async def inbox(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest, *, unread: bool
) -> Page[Notification]:
    return await repository.notifications.page_of(session, user_id, page, unread=unread)


async def unread_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await repository.notifications.unread_count(session, user_id)


async def mark_read(
    session: AsyncSession, user_id: uuid.UUID, ids: Sequence[uuid.UUID] | None
) -> tuple[int, int]:
    """Mark the user's notifications of `ids` (all with None) read: how many were marked,
    and how many stay unread."""
    marked = await repository.notifications.mark_read(session, user_id, ids)
    return marked, await unread_count(session, user_id)


# Devices


async def register_device(
    session: AsyncSession, user_id: uuid.UUID, token: str, platform: Platform
) -> tuple[Device, bool]:
    """Register a push token for the user (it leaves a previous user); whether it is new."""
    return await repository.devices.register(session, user_id, token, platform.value)


async def unregister_device(session: AsyncSession, user_id: uuid.UUID, token: str) -> None:
    if not await repository.devices.remove(session, user_id, token):
        raise DeviceNotFound()
