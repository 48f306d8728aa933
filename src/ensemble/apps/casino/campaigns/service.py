"""Campaigns use cases: schedule (a job at `send_at`, and the minute sweep behind it), cancel
before sending, deliver once. Never commit.

Delivery moves the campaign `scheduled → sent` with one conditional UPDATE and, in the same
transaction, puts one inbox message per targeted member (`notify_many`, one statement): the
job and the sweep may both run, or run twice, and the campaign still reaches each member once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.campaigns.models import Audience, Campaign, CampaignStatus
from ensemble.apps.casino.domain import NotificationCategory
from ensemble.apps.casino.models import User
from ensemble.apps.casino.notifications import service as notifications
from ensemble.apps.casino.segments.domain import RiskLevel
from ensemble.apps.casino.segments.models import MemberRisk, UserSegment
from ensemble.kernel.db import new_id
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.identity.models import Account
from ensemble.kernel.pagination import Page, PageRequest, newest_first


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    message = "No such campaign."


class CampaignNotScheduled(Conflict):
    code = "campaign_not_scheduled"
    message = "The campaign was sent or cancelled already."


class SendAtPast(InvalidInput):
    code = "send_at_past"
    message = "A campaign is scheduled for a minute in the future."


async def schedule(
    session: AsyncSession,
    *,
    title: str,
    body: str,
    segment: Audience,
    promotional: bool,
    send_at: datetime,
    admin_id: uuid.UUID,
    now: datetime,
) -> Campaign:
    """A campaign for `send_at` (a future minute: 422 `send_at_past`), its delivery job
    requested for that instant."""
    from ensemble.apps.casino.tasks import campaign_send

    if send_at <= now:
        raise SendAtPast(details={"send_at": send_at.isoformat(), "now": now.isoformat()})
    campaign = Campaign(
        id=new_id(),
        title=title,
        body=body,
        segment=segment,
        promotional=promotional,
        send_at=send_at,
        status=CampaignStatus.SCHEDULED,
        created_by=admin_id,
        created_at=now,
    )
    session.add(campaign)
    await session.flush()
    await campaign_send.enqueue_at(session, send_at, campaign_id=str(campaign.id))
    return campaign


async def get(session: AsyncSession, campaign_id: uuid.UUID) -> Campaign:
    found = await session.get(Campaign, campaign_id)
    if found is None:
        raise CampaignNotFound(details={"campaign_id": str(campaign_id)})
    return found


async def campaigns(
    session: AsyncSession, page: PageRequest, *, status: CampaignStatus | None
) -> Page[Campaign]:
    """Campaigns, the newest first (of one status, if given)."""
    query = select(Campaign)
    if status is not None:
        query = query.where(Campaign.status == status)
    return await newest_first(session, query, page, Campaign.id)


async def cancel(session: AsyncSession, campaign_id: uuid.UUID, *, now: datetime) -> Campaign:
    """Cancel a scheduled campaign (409 `campaign_not_scheduled` once sent or cancelled)."""
    cancelled = await session.scalar(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SCHEDULED)
        .values(status=CampaignStatus.CANCELLED, cancelled_at=now)
        .returning(Campaign)
        .execution_options(populate_existing=True)
    )
    if cancelled is None:
        found = await get(session, campaign_id)
        raise CampaignNotScheduled(details={"status": found.status.value})
    return cancelled


def recipients(campaign: Campaign) -> Select[uuid.UUID]:
    """The active members a campaign targets: its segment's (or all), without those whose
    self-check was high risk when it is promotional."""
    query = (
        select(User.account_id)
        .join(Account, Account.id == User.account_id)
        .where(Account.is_active.is_(True))
    )
    if campaign.segment is not Audience.ALL:
        query = query.join(UserSegment, UserSegment.user_id == User.account_id).where(
            UserSegment.rfm_group == campaign.segment.value
        )
    if campaign.promotional:
        high = exists().where(
            MemberRisk.user_id == User.account_id, MemberRisk.risk_level == RiskLevel.HIGH
        )
        query = query.where(~high)
    return query


async def deliver(session: AsyncSession, campaign_id: uuid.UUID, *, now: datetime) -> int | None:
    """Send the campaign if it is due and still scheduled; how many members it reached (None
    when there was nothing to send: not due, sent, or cancelled)."""
    due = await session.scalar(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == CampaignStatus.SCHEDULED,
            Campaign.send_at <= now,
        )
        .values(status=CampaignStatus.SENT, sent_at=now)
        .returning(Campaign)
        .execution_options(populate_existing=True)
    )
    if due is None:
        return None
    data = {"campaign_id": str(due.id)}
    due.recipients = await notifications.notify_many(
        session, recipients(due), NotificationCategory.CAMPAIGN, due.title, body=due.body, data=data
    )
    await session.flush()
    return due.recipients


async def deliver_due(session: AsyncSession, *, now: datetime) -> Sequence[uuid.UUID]:
    """Send every campaign due by `now` and still scheduled (the sweep behind the jobs); the
    ids sent."""
    due = (
        await session.scalars(
            select(Campaign.id)
            .where(Campaign.status == CampaignStatus.SCHEDULED, Campaign.send_at <= now)
            .order_by(Campaign.send_at)
        )
    ).all()
    return [each for each in due if await deliver(session, each, now=now) is not None]
