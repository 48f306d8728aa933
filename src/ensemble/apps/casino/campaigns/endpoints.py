"""Admin campaigns: `POST /api/admin/campaigns`, the list, one, and its cancellation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.auth import Admin
from ensemble.apps.casino.campaigns import service as campaigns
from ensemble.apps.casino.campaigns.models import CampaignStatus
from ensemble.apps.casino.campaigns.schemas import CampaignCreate, CampaignPublic
from ensemble.apps.casino.schemas import INPUT, OWNED, PREFIX, errors
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.pagination import Page, PageDep

router = APIRouter(prefix=f"{PREFIX}/admin/campaigns", tags=["admin"])

CAMPAIGN = "campaign"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, (422, "Invalid input (`validation_error`), or `send_at` not in"
                                " the future (`send_at_past`)")),
)  # fmt: skip
async def schedule(body: CampaignCreate, admin: Admin, session: SessionDep) -> CampaignPublic:
    """Schedule a notification to a segment (or `all`) for a future minute; delivered in that
    minute, once (audited)."""
    campaign = await campaigns.schedule(
        session, **body.model_dump(), admin_id=admin.account_id, now=utcnow()
    )
    details = body.model_dump(mode="json")
    await audit.record(session, admin.account_id, "campaign.create", CAMPAIGN, campaign.id, details)
    return CampaignPublic.model_validate(campaign)


@router.get("", responses=errors(*INPUT, 403))
async def campaign_list(
    admin: Admin,
    session: SessionDep,
    page: PageDep,
    status: Annotated[CampaignStatus | None, Query()] = None,
) -> Page[CampaignPublic]:
    """Campaigns, the newest first (of one status, if given)."""
    found = await campaigns.campaigns(session, page, status=status)
    return found.map(CampaignPublic.model_validate)


@router.get("/{campaign_id}", responses=errors(*OWNED, 403))
async def campaign(campaign_id: uuid.UUID, admin: Admin, session: SessionDep) -> CampaignPublic:
    """One campaign (404 `campaign_not_found`)."""
    return CampaignPublic.model_validate(await campaigns.get(session, campaign_id))


@router.post(
    "/{campaign_id}/cancel",
    responses=errors(*OWNED, 403, (409, "Sent or cancelled already (`campaign_not_scheduled`)")),
)
async def cancel(campaign_id: uuid.UUID, admin: Admin, session: SessionDep) -> CampaignPublic:
    """Cancel a campaign before it is sent (audited)."""
    cancelled = await campaigns.cancel(session, campaign_id, now=utcnow())
    await audit.record(session, admin.account_id, "campaign.cancel", CAMPAIGN, campaign_id)
    return CampaignPublic.model_validate(cancelled)
