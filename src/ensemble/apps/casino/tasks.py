"""Casino-Club background jobs: each part appends its own and lists it in `JOBS`."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.settings import CASINO, CasinoSettings
from ensemble.kernel.db import utcnow
from ensemble.kernel.jobs import RetryPolicy, job

logger = logging.getLogger(__name__)

TRANSIENT = RetryPolicy(max_retries=5, min_backoff_ms=100, max_backoff_ms=5_000)


# shop (A6)


def shop_sweep_interval() -> timedelta:
    """`CASINO_SHOP_SWEEP_SECONDS`, read by the scheduler each time it sends the sweep."""
    return timedelta(seconds=CasinoSettings().shop_sweep_seconds)


@job("casino.shop_sweep", every=shop_sweep_interval, retry=TRANSIENT)
async def shop_sweep(session: AsyncSession) -> None:
    """Settle money purchases stuck in `pending` past `CASINO_PAYMENT_PENDING_MINUTES` by
    asking their provider (the sandbox knows none: they fail)."""
    from ensemble.apps.casino.shop import service as shop

    now = utcnow()
    timeout = timedelta(minutes=CASINO.current().settings.payment_pending_minutes)
    settled = await shop.sweep_pending(session, created_before=now - timeout, now=now)
    if settled:
        logger.info("casino shop sweep: %s", settled)


# notifications (B4)

OUTSIDE = RetryPolicy(max_retries=5, min_backoff_ms=1_000, max_backoff_ms=60_000)


@job("casino.notification_out", retry=OUTSIDE)
async def notification_out(
    session: AsyncSession, *, user_id: str, notification_id: int, channel: str
) -> None:
    """A notification on push or e-mail (requested by `notify`, so after its commit), unless
    the member muted its category there."""
    from ensemble.apps.casino.notifications import service as notifications
    from ensemble.apps.casino.notifications.domain import Channel
    from ensemble.apps.casino.notifications.ports import ADAPTERS

    ports = ADAPTERS[CASINO.current().settings.notification_adapter]
    await notifications.deliver(
        session, uuid.UUID(user_id), notification_id, Channel(channel), ports
    )


@job("casino.notification_retention", every=timedelta(hours=1), retry=TRANSIENT)
async def notification_retention(session: AsyncSession) -> None:
    """Delete notifications older than `CASINO_NOTIFICATION_RETENTION_DAYS`."""
    from ensemble.apps.casino.notifications import service as notifications

    days = CASINO.current().settings.notification_retention_days
    deleted = await notifications.delete_expired(session, before=utcnow() - timedelta(days=days))
    if deleted:
        logger.info("casino notification retention: %d deleted", deleted)


JOBS = (shop_sweep, notification_out, notification_retention)
