"""Notification jobs: live frames to users' sockets, and each notification's delivery on
each channel. Both run after the request's commit (requested through the job outbox), so a
rolled-back change says nothing and a committed one is never silent."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.events import user_channel
from ensemble.apps.focus.settings import FOCUS
from ensemble.kernel.jobs import RetryPolicy, job

LIVE = RetryPolicy(max_retries=3, min_backoff_ms=100, max_backoff_ms=2_000)
OUTSIDE = RetryPolicy(max_retries=5, min_backoff_ms=1_000, max_backoff_ms=60_000)


@job("focus.user_event", retry=LIVE)
async def user_event(_: AsyncSession, *, user_ids: list[str], payload: dict[str, Any]) -> None:
    """`payload` on every socket of each of `user_ids` (`/ws/me`), in every server process."""
    publisher = FOCUS.current().publisher
    if publisher is not None:
        for user_id in user_ids:
            await publisher.publish(user_channel(uuid.UUID(user_id)), payload)


@job("focus.notification", retry=OUTSIDE)
async def deliver_notification(
    session: AsyncSession, *, notification_id: str, channel: str
) -> None:
    """A notification on one channel, as the user's preferences allow."""
    from ensemble.apps.focus.domain import Channel
    from ensemble.apps.focus.notifications import service

    notifiers = FOCUS.current().notifiers
    await service.deliver(session, uuid.UUID(notification_id), Channel(channel), notifiers)


JOBS = (user_event, deliver_notification)
