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


# segments (B1) and campaigns (B6)


def rfm_interval() -> timedelta:
    """`CASINO_RFM_EVERY_MINUTES`, read by the scheduler each time it sends the run."""
    return timedelta(minutes=CasinoSettings().rfm_every_minutes)


@job("casino.rfm", every=rfm_interval, retry=TRANSIENT, time_limit=timedelta(minutes=30))
async def rfm(session: AsyncSession) -> None:
    """The incremental RFM run (`ensemble casino rfm --full` for a full one)."""
    from ensemble.apps.casino.segments import service as segments

    rules = segments.rules_of(CASINO.current().settings)
    report = await segments.run_rfm(session, rules, now=utcnow())
    logger.info("casino rfm: %s", report)


@job("casino.campaign_send", retry=TRANSIENT)
async def campaign_send(session: AsyncSession, *, campaign_id: str) -> None:
    """Send a campaign at its minute (nothing if it was sent or cancelled)."""
    from ensemble.apps.casino.campaigns import service as campaigns

    await campaigns.deliver(session, uuid.UUID(campaign_id), now=utcnow())


def campaign_sweep_interval() -> timedelta:
    return timedelta(seconds=CasinoSettings().campaign_sweep_seconds)


@job("casino.campaign_sweep", every=campaign_sweep_interval, retry=TRANSIENT)
async def campaign_sweep(session: AsyncSession) -> None:
    """Send due campaigns whose job has not (a lost or late job)."""
    from ensemble.apps.casino.campaigns import service as campaigns

    sent = await campaigns.deliver_due(session, now=utcnow())
    if sent:
        logger.info("casino campaign sweep sent %s", sent)


# VIP tiers (B3)


def vip_review_interval() -> timedelta:
    """`CASINO_VIP_REVIEW_SECONDS`, read by the scheduler each time it sends the review."""
    return timedelta(seconds=CasinoSettings().vip_review_seconds)


@job("casino.vip_review", every=vip_review_interval, retry=TRANSIENT)
async def vip_review(session: AsyncSession) -> None:
    """Review the members whose VIP period has ended: keep, grace or downgrade (upgrades
    happen at once, on their actions)."""
    from ensemble.apps.casino.vip import service as vip

    reviewed = await vip.review_due(session, utcnow())
    if reviewed:
        logger.info("casino vip review: %s members", reviewed)


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


JOBS = (
    shop_sweep,
    rfm,
    campaign_send,
    campaign_sweep,
    vip_review,
    notification_out,
    notification_retention,
)
