"""Responsible play (B2): `/api/responsible-play/limits`, `/reality-check`, `/cool-off`,
`/self-exclusion`. Reading and changing them works whatever your state; bets, pulls and
purchases are what a cool-off, a self-exclusion or a limit refuses."""

from __future__ import annotations

from fastapi import APIRouter

from ensemble.apps.casino.auth import CurrentUser
from ensemble.apps.casino.limits import service as limits
from ensemble.apps.casino.limits.domain import LimitKey
from ensemble.apps.casino.limits.schemas import (
    CoolOffRequest,
    ExclusionRequest,
    LimitPublic,
    LimitsUpdate,
    PendingChange,
    RealityCheckUpdate,
    ResponsiblePlayPublic,
)
from ensemble.apps.casino.schemas import INPUT, PREFIX, USER, errors
from ensemble.kernel.db import SessionDep, utcnow

router = APIRouter(prefix=f"{PREFIX}/responsible-play", tags=["responsible play"])

CANNOT_SHORTEN = (409, "One in force ends later: it cannot be shortened (`cannot_shorten`)")


def _public(standing: limits.Standing) -> ResponsiblePlayPublic:
    guard = standing.guard
    return ResponsiblePlayPublic(
        limits=[
            LimitPublic(
                kind=key.kind,
                period=key.period,
                currency=key.currency,
                amount=state.amount,
                pending=None
                if state.pending_at is None
                else PendingChange(amount=state.pending_amount, effective_at=state.pending_at),
                used=standing.usage.used(key),
                remaining=None
                if state.amount is None
                else max(state.amount - standing.usage.used(key), 0),
            )
            for key, state in standing.limits.items()
        ],
        cool_off_until=guard.cool_off_until
        if guard.cool_off_until and guard.cool_off_until > standing.now
        else None,
        self_excluded_until=guard.excluded_until
        if guard.excluded_until and guard.excluded_until > standing.now
        else None,
        self_excluded_permanently=guard.excluded_permanently,
        reality_check_minutes=guard.reality_check_minutes,
    )


async def _answer(session: SessionDep, user: CurrentUser) -> ResponsiblePlayPublic:
    return _public(await limits.standing(session, user.account_id, utcnow()))


@router.get("/limits", responses=errors(*USER))
async def get_limits(user: CurrentUser, session: SessionDep) -> ResponsiblePlayPublic:
    """Your limits (with what this local day and week used of each, and any looser change
    waiting), cool-off, self-exclusion and reality-check interval."""
    return await _answer(session, user)


@router.put("/limits", responses=errors(*INPUT))
async def put_limits(
    body: LimitsUpdate, user: CurrentUser, session: SessionDep
) -> ResponsiblePlayPublic:
    """Set your limits, all of them. A lower (or new) limit applies at once; a higher one,
    or one left out, only 24 hours later (shown as `pending`). Days and weeks (from Monday)
    follow your time zone. 422 `invalid_limits` for a limit named twice or a currency that
    does not fit its kind."""
    desired = [
        (LimitKey(limit.kind, limit.period, limit.currency), limit.amount) for limit in body.limits
    ]
    await limits.set_limits(session, user.account_id, desired, utcnow())
    return await _answer(session, user)


@router.put("/reality-check", responses=errors(*INPUT))
async def put_reality_check(
    body: RealityCheckUpdate, user: CurrentUser, session: SessionDep
) -> ResponsiblePlayPublic:
    """How often a game session sends you a reality check (its time and net result)."""
    await limits.set_reality_check(session, user.account_id, body.interval_minutes)
    return await _answer(session, user)


@router.post("/cool-off", responses=errors(*INPUT, CANNOT_SHORTEN))
async def cool_off(
    body: CoolOffRequest, user: CurrentUser, session: SessionDep
) -> ResponsiblePlayPublic:
    """Take a break (`24h`, `7d`, `30d`): no bets, pulls or purchases until it ends. A
    longer one extends it; a shorter one is refused."""
    await limits.cool_off(session, user.account_id, body.duration, utcnow())
    return await _answer(session, user)


@router.post("/self-exclusion", responses=errors(*INPUT, CANNOT_SHORTEN))
async def self_exclusion(
    body: ExclusionRequest, user: CurrentUser, session: SessionDep
) -> ResponsiblePlayPublic:
    """Exclude yourself (`6m`, `1y`, `permanent`): no bets, pulls or purchases until it
    ends. A longer one extends it; a shorter one is refused."""
    await limits.self_exclude(session, user.account_id, body.duration, utcnow())
    return await _answer(session, user)
