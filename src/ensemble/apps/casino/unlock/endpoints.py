"""Age-gated unlock (B5): `POST /api/unlock/verify`, `POST /api/unlock`,
`GET /api/unlock/contents`. Off unless `CASINO_UNLOCK_ENABLED`: then every route answers 404
`unlock_disabled` (after authentication)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from ensemble.apps.casino.auth import CurrentUser
from ensemble.apps.casino.schemas import INPUT, PREFIX, errors
from ensemble.apps.casino.settings import CasinoDep
from ensemble.apps.casino.unlock import service as unlocks
from ensemble.apps.casino.unlock.schemas import (
    ContentPublic,
    StagePublic,
    UnlockPublic,
    UnlockRequest,
    VerificationPublic,
    VerifyRequest,
)
from ensemble.apps.casino.unlock.verification import verification_port
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=f"{PREFIX}/unlock", tags=["unlock"])

OFF = (404, "The feature is off (`unlock_disabled`)")
CREATED_OR_KNOWN: dict[int | str, dict[str, Any]] = {
    200: {"description": "Done earlier: answered as it is"}
}


def _require_enabled(casino: CasinoDep) -> None:
    if not casino.settings.unlock_enabled:
        raise unlocks.UnlockDisabled()


def _content(view: unlocks.ContentView) -> ContentPublic:
    return ContentPublic(
        content_id=view.content.content_id,
        title=view.content.title,
        stages=[
            StagePublic(
                stage=stage.stage,
                price_coins=stage.price_coins,
                min_vip_tier=stage.min_vip_tier,
                min_rank=stage.min_rank,
                unlocked=stage.stage in view.unlocked,
                body=stage.body if stage.stage in view.unlocked else None,
            )
            for stage in view.stages
        ],
    )


@router.post(
    "/verify",
    status_code=status.HTTP_201_CREATED,
    responses={
        **CREATED_OR_KNOWN,
        **errors(*INPUT, (403, "Not an adult in that jurisdiction (`not_adult`)"), OFF),
    },
)
async def verify(
    body: VerifyRequest,
    user: CurrentUser,
    session: SessionDep,
    casino: CasinoDep,
    response: Response,
) -> VerificationPublic:
    """Verify your age through the verification provider (the sandbox believes the birth
    date): once verified adult, you stay verified (200 afterwards)."""
    _require_enabled(casino)
    found, created = await unlocks.verify(
        session,
        user.account_id,
        verification_port(casino.settings.age_verification_provider),
        jurisdiction=body.jurisdiction,
        birth_date=body.birth_date,
        now=utcnow(),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return VerificationPublic.model_validate(found)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        **CREATED_OR_KNOWN,
        **errors(
            *INPUT,
            (403, "Age not verified (`age_not_verified`), VIP tier or rank too low"
             " (`tier_too_low`), self-excluded (`self_excluded`) or cooling off"
             " (`cooling_off`)"),
            (404, "The feature is off (`unlock_disabled`), or no such content or stage"
             " (`content_not_found`)"),
            (409, "The previous stage is locked (`previous_stage_locked`), not enough coins"
             " (`insufficient_coins`), or a responsible-play limit (`limit_reached`)"),
        ),
    },
)  # fmt: skip
async def unlock(
    body: UnlockRequest,
    user: CurrentUser,
    session: SessionDep,
    casino: CasinoDep,
    response: Response,
) -> UnlockPublic:
    """Unlock a stage of a content (teaser, then partial, then full) with coins: paid,
    logged and shown in one step. A stage unlocked before answers 200 at no cost."""
    _require_enabled(casino)
    done = await unlocks.unlock(session, user.account_id, body.content_id, body.stage, utcnow())
    if not done.created:
        response.status_code = status.HTTP_200_OK
    return UnlockPublic.model_validate(Extended(done.record, body=done.stage.body))


@router.get("/contents", responses=errors(*INPUT, OFF))
async def contents(
    user: CurrentUser, session: SessionDep, casino: CasinoDep, page: PageDep
) -> Page[ContentPublic]:
    """The contents: titles and every stage's price and requirements; a stage's body only
    once you unlocked it."""
    _require_enabled(casino)
    return (await unlocks.contents(session, user.account_id, page)).map(_content)
