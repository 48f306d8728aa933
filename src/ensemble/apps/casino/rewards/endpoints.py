"""Rewards: grants (admins), your history, the daily login reward claimed explicitly, your
streak, your time zone, and an admin's reversal of a grant."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.auth import Admin, CurrentUser
from ensemble.apps.casino.domain import RewardKind
from ensemble.apps.casino.rewards import service as rewards
from ensemble.apps.casino.rewards.schemas import (
    DailyClaimPublic,
    RewardGrant,
    RewardPublic,
    RewardReverse,
    StreakPublic,
    TimeZonePublic,
    TimeZoneSet,
    answered_before,
)
from ensemble.apps.casino.schemas import INPUT, OWNED, PREFIX, errors
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=PREFIX)

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


@router.post(
    "/rewards",
    status_code=status.HTTP_201_CREATED,
    tags=["rewards"],
    responses={
        **errors(
            *OWNED,
            403,
            (409, "The key was used for a different reward (`idempotency_key_reused`)"),
        ),
        **answered_before(RewardPublic, "A replay of the key: the original grant"),
    },
)
async def grant_reward(
    body: RewardGrant, admin: Admin, session: SessionDep, response: Response
) -> RewardPublic:
    """Grant a member coins, gems or an item (admins; other parts grant through the
    service): one grant per `(user_id, idempotency_key)`, a replay answers it (200). 404
    `user_not_found` / `item_not_found`, 422 `invalid_reward` when the fields do not fit
    the kind; a refusal writes nothing."""
    granted = await rewards.grant(
        session,
        user_id=body.user_id,
        kind=body.kind,
        amount=body.amount,
        item_id=body.item_id,
        quantity=body.quantity,
        reason=body.reason,
        idempotency_key=body.idempotency_key,
        granted_by=admin.account_id,
    )
    if granted.replayed:
        response.status_code = status.HTTP_200_OK
    else:
        details = body.model_dump(mode="json", exclude={"user_id"})
        await audit.record(
            session, admin.account_id, "reward.grant", "reward", granted.reward.id, details
        )
    return RewardPublic.model_validate(granted.reward)


@router.get("/rewards/history", tags=["rewards"], responses=errors(*INPUT))
async def reward_history(
    user: CurrentUser, session: SessionDep, page: PageDep, kind: RewardKind | None = None
) -> Page[RewardPublic]:
    """Your rewards, newest first (of one `kind` if given)."""
    found = await rewards.history(session, user.account_id, page, kind=kind)
    return found.map(RewardPublic.model_validate)


@router.post(
    "/rewards/daily",
    status_code=status.HTTP_201_CREATED,
    tags=["rewards"],
    responses={
        **errors(*INPUT),
        **answered_before(DailyClaimPublic, "Your day was claimed already: that claim"),
    },
)
async def claim_daily(
    user: CurrentUser, session: SessionDep, response: Response
) -> DailyClaimPublic:
    """Claim today's login reward (your local day; the first login of a day claims it too):
    once per day, a repeat answers the day's claim (200)."""
    claim = await rewards.daily_login(session, user.account_id, now=utcnow())
    if not claim.claimed_now:
        response.status_code = status.HTTP_200_OK
    return _daily_claim(claim)


def _daily_claim(claim: rewards.DailyClaim) -> DailyClaimPublic:
    return DailyClaimPublic.model_validate(
        Extended(claim.day, reward=claim.reward, streak=claim.streak, claimed_now=claim.claimed_now)
    )


@router.get("/rewards/streak", tags=["rewards"], responses=errors(*INPUT))
async def my_streak(
    user: CurrentUser,
    session: SessionDep,
    month: Annotated[
        str | None, Query(pattern=MONTH_PATTERN, description="`YYYY-MM`; default this one")
    ] = None,
) -> StreakPublic:
    """Your streak: current and longest, shields held, whether today is claimed, the days
    claimed in a month (the calendar) and the next 7 rewards."""
    first = None if month is None else date.fromisoformat(f"{month}-01")
    view = await rewards.streak_view(session, user.account_id, now=utcnow(), month=first)
    return StreakPublic.model_validate(view)


@router.put("/users/me/time-zone", tags=["users"], responses=errors(*INPUT))
async def set_time_zone(
    body: TimeZoneSet, user: CurrentUser, session: SessionDep
) -> TimeZonePublic:
    """Set the IANA time zone your days follow (422 `unknown_time_zone`): the daily reward
    and the streak turn over at your local midnight."""
    await rewards.set_time_zone(session, user.account_id, body.time_zone)
    where = await rewards.local_day(session, user.account_id, utcnow())
    return TimeZonePublic(time_zone=where.time_zone, today=where.today)


@router.post(
    "/admin/rewards/{reward_id}/reverse",
    tags=["admin"],
    responses=errors(
        *OWNED,
        403,
        (409, "Reversed already (`reward_already_reversed`), or the member no longer holds"
         " it (`insufficient_balance`, `not_enough_items`)"),
    ),
)  # fmt: skip
async def reverse_reward(
    reward_id: uuid.UUID, body: RewardReverse, admin: Admin, session: SessionDep
) -> RewardPublic:
    """Take a grant back, once (admins): coins or gems through the ledger, items from the
    inventory."""
    reward = await rewards.reverse(
        session, reward_id, reason=body.reason, reversed_by=admin.account_id
    )
    details = {"reason": body.reason}
    await audit.record(session, admin.account_id, "reward.reverse", "reward", reward_id, details)
    return RewardPublic.model_validate(reward)
