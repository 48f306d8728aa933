"""`/api/gacha/...` (banners, rates, spin, history) and the admin's rate-table publishing."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.auth import Admin, CurrentUser
from ensemble.apps.casino.fairness.schemas import IdempotencyKey, Rate
from ensemble.apps.casino.gacha import service as gacha
from ensemble.apps.casino.gacha.models import RateTableVersion
from ensemble.apps.casino.gacha.schemas import (
    BANNER_ID,
    BannerPublic,
    GachaSpinPublic,
    GachaSpinRequest,
    PullHistoryItem,
    RatesPublic,
    RateTablePublic,
    RateTablePublish,
    TableRates,
)
from ensemble.apps.casino.games import gacha as core
from ensemble.apps.casino.limits.schemas import PLAY_REFUSED
from ensemble.apps.casino.schemas import INPUT, OWNED, PREFIX, USER, errors
from ensemble.apps.casino.settings import CasinoDep
from ensemble.apps.casino.vip import service as vip
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.identity.cache import auth_cache
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=PREFIX, tags=["gacha"])

BannerId = Annotated[str, Path(pattern=BANNER_ID)]
NO_BANNER = (404, "No such banner (`banner_not_found`)")
VIP_BANNER = (403, "The banner is for a higher VIP tier (`vip_tier_required`)")


def _disclosed(row: RateTableVersion, hard_pity: int) -> TableRates:
    table = gacha.rate_table(row)
    return TableRates(
        version=row.version,
        effective_from=row.effective_from,
        published_at=row.published_at,
        weights=dict(table.tier_weights),
        base={tier: Rate.of(rate) for tier, rate in table.base_rates().items()},
        consolidated={
            tier: Rate.of(rate) for tier, rate in core.consolidated_rates(table, hard_pity).items()
        },
        expected_pulls_per_ssr=round(float(core.expected_pulls_per_ssr(table, hard_pity)), 4),
        pools={tier: list(items) for tier, items in table.pools.items()},
        shards_per_duplicate=dict(table.shards),
    )


@router.get("/gacha/banners", responses=errors(*USER))
async def banners(user: CurrentUser, session: SessionDep) -> list[BannerPublic]:
    """The banners open now to your VIP tier."""
    tier = await vip.tier_of(session, user.account_id)
    found = await gacha.open_banners(session, utcnow(), tier=tier)
    return [BannerPublic.model_validate(b) for b in found]


@router.get("/gacha/banners/{banner_id}/rates", responses=errors(*USER, 422, NO_BANNER, VIP_BANNER))
async def rates(banner_id: BannerId, user: CurrentUser, session: SessionDep) -> RatesPublic:
    """The rates disclosed: base and consolidated (hard pity included), for the version in
    force and every published version still to come."""
    found = await gacha.rates(session, banner_id, utcnow())
    await vip.require_tier(session, user.account_id, found.banner.min_vip_tier)
    pity = found.banner.hard_pity
    return RatesPublic(
        banner=BannerPublic.model_validate(found.banner),
        pity_rule=f"Hard pity: pull {pity} since your last SSR on this banner is an SSR;"
        " an SSR resets the count.",
        in_force=None if found.in_force is None else _disclosed(found.in_force, pity),
        upcoming=[_disclosed(row, pity) for row in found.upcoming],
    )


@router.post(
    "/gacha/spin",
    responses=errors(
        *INPUT,
        NO_BANNER,
        PLAY_REFUSED,
        VIP_BANNER,
        (409, "The banner is closed (`banner_closed`) or has no rates in force"
         " (`no_rate_table`); not enough coins or gems (`insufficient_coins`,"
         " `insufficient_gems`); a responsible-play limit (`limit_reached`); the"
         " `Idempotency-Key` was used for another play"
         " (`idempotency_key_reused`). Nothing is written."),
    ),
)  # fmt: skip
async def spin(
    request: Request,
    body: GachaSpinRequest,
    user: CurrentUser,
    session: SessionDep,
    casino: CasinoDep,
    idempotency_key: IdempotencyKey = None,
) -> GachaSpinPublic:
    """Pull once or ten times: the cost, the items (duplicates as shards), the pity counter
    and the hand in one transaction."""
    hand = await gacha.spin(
        session,
        user.account_id,
        body.banner_id,
        body.count,
        now=utcnow(),
        idempotency_key=idempotency_key,
        redis=casino.redis,
        cache=auth_cache(request),
    )
    return GachaSpinPublic.model_validate(Extended(hand, **hand.outcome))


@router.get("/gacha/history", responses=errors(*INPUT))
async def history(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    banner_id: Annotated[str | None, Query(pattern=BANNER_ID)] = None,
) -> Page[PullHistoryItem]:
    """Your pulls, the newest first (on one banner with `banner_id`)."""
    found = await gacha.history(session, user.account_id, page, banner_id)
    return found.map(PullHistoryItem.model_validate)


@router.post(
    "/admin/gacha/banners/{banner_id}/rate-tables",
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    responses=errors(*OWNED, 403),
)
async def publish_rate_table(
    banner_id: BannerId,
    body: RateTablePublish,
    admin: Admin,
    session: SessionDep,
    casino: CasinoDep,
) -> RateTablePublic:
    """Publish the banner's next rate table version (admins). It applies from
    `effective_from`, at least the minimum notice from now (422 `effective_from_too_soon`);
    a malformed table, or one over unknown items or items of another tier, is 422
    `invalid_rate_table`."""
    row = await gacha.publish(
        session,
        banner_id,
        effective_from=body.effective_from,
        weights=body.weights,
        pools=body.pools,
        notice=timedelta(minutes=casino.settings.gacha_rate_notice_minutes),
        now=utcnow(),
    )
    details = {"version": row.version, **body.model_dump(mode="json")}
    await audit.record(
        session, admin.account_id, "rate_table.publish", "banner", banner_id, details
    )
    return RateTablePublic.model_validate(row)
