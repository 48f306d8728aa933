"""Casino-Club background jobs: each part appends its own and lists it in `JOBS`."""

from __future__ import annotations

import logging
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


JOBS = (shop_sweep, vip_review)
