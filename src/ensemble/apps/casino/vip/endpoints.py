"""`/api/vip/...`: the tiers, your status and progress, your tier history."""

from __future__ import annotations

from fastapi import APIRouter

from ensemble.apps.casino.auth import CurrentUser
from ensemble.apps.casino.schemas import INPUT, PREFIX, USER, errors
from ensemble.apps.casino.vip import service as vip
from ensemble.apps.casino.vip.domain import PERIOD
from ensemble.apps.casino.vip.schemas import (
    MeasuresPublic,
    NextTier,
    TierPublic,
    TiersPublic,
    VipChangePublic,
    VipStatusPublic,
)
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.pagination import Page, PageDep

router = APIRouter(prefix=f"{PREFIX}/vip", tags=["vip"])


@router.get("/tiers", responses=errors(*USER))
async def tiers(user: CurrentUser, session: SessionDep) -> TiersPublic:
    """Every tier, lowest first: thresholds over the rolling period and benefits."""
    rows = await vip.tiers(session)
    return TiersPublic(period_days=PERIOD.days, items=[TierPublic.model_validate(r) for r in rows])


@router.get("/status", responses=errors(*USER))
async def status(user: CurrentUser, session: SessionDep) -> VipStatusPublic:
    """Your tier and its benefits, your period (grace), your measures and what is missing
    for the next tier. A tier is gained at once; it is lost only at the end of a period
    after one period of grace."""
    found = await vip.status(session, user.account_id, utcnow())
    upcoming = None
    if found.next_tier is not None and found.missing is not None:
        upcoming = NextTier(
            tier=TierPublic.model_validate(found.next_tier),
            missing=MeasuresPublic.model_validate(found.missing),
        )
    return VipStatusPublic(
        tier=TierPublic.model_validate(found.tier),
        exclusive_banners=found.exclusive_banners,
        in_grace=found.in_grace,
        period_ends_at=found.period_ends_at,
        measures=MeasuresPublic.model_validate(found.measures),
        next=upcoming,
    )


@router.get("/history", responses=errors(*INPUT))
async def history(user: CurrentUser, session: SessionDep, page: PageDep) -> Page[VipChangePublic]:
    """Your tier moves (upgrade, grace, downgrade), newest first."""
    found = await vip.history(session, user.account_id, page)
    return found.map(VipChangePublic.model_validate)
