"""`GET /api/recommend/personalized`, the recommendation rules' admin CRUD, the quiz."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from ensemble.apps.casino.audit import service as audit
from ensemble.apps.casino.auth import Admin, CurrentUser
from ensemble.apps.casino.schemas import INPUT, OWNED, PREFIX, USER, errors
from ensemble.apps.casino.segments import service as segments
from ensemble.apps.casino.segments.domain import RuleSegment
from ensemble.apps.casino.segments.schemas import (
    OfferPublic,
    PersonalizedPublic,
    QuizPublic,
    QuizSubmit,
    RuleChange,
    RuleCreate,
    RulePublic,
    SegmentPublic,
)
from ensemble.kernel.db import SessionDep, utcnow
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended

router = APIRouter(prefix=PREFIX)

RULE = "recommendation_rule"
RULE_EXISTS = (409, "The segment already has this offer (`rule_exists`)")
OFFER_ERRORS = (422, "Invalid input (`validation_error`), or no such product or banner"
                " (`unknown_offer`)")  # fmt: skip


@router.get("/recommend/personalized", tags=["recommendations"], responses=errors(*USER))
async def personalized(user: CurrentUser, session: SessionDep) -> PersonalizedPublic:
    """Your ranked offers, by your segment's rules (the defaults until the RFM job places
    you). After a high-risk self-check: responsible-play suggestions and nothing
    promotional."""
    found = await segments.personalized(session, user.account_id)
    segment = SegmentPublic.model_validate(found.segment) if found.segment else None
    offers = [OfferPublic.model_validate(each) for each in found.offers]
    return PersonalizedPublic(segment=segment, risk_level=found.risk_level, offers=offers)


@router.get("/admin/recommendation-rules", tags=["admin"], responses=errors(*INPUT, 403))
async def rules(
    admin: Admin,
    session: SessionDep,
    page: PageDep,
    segment: Annotated[RuleSegment | None, Query()] = None,
) -> Page[RulePublic]:
    """Every recommendation rule (of one segment, if given)."""
    found = await segments.rules(session, page, segment=segment)
    return found.map(RulePublic.model_validate)


@router.post(
    "/admin/recommendation-rules",
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
    responses=errors(401, 403, OFFER_ERRORS, RULE_EXISTS),
)
async def add_rule(body: RuleCreate, admin: Admin, session: SessionDep) -> RulePublic:
    """Add an offer to a segment's rules (audited)."""
    added = await segments.add_rule(session, body.model_dump())
    await audit.record(
        session, admin.account_id, "rule.create", RULE, added.id, body.model_dump(mode="json")
    )
    return RulePublic.model_validate(added)


@router.get("/admin/recommendation-rules/{rule_id}", tags=["admin"], responses=errors(*OWNED, 403))
async def rule(rule_id: uuid.UUID, admin: Admin, session: SessionDep) -> RulePublic:
    """One rule (404 `rule_not_found`)."""
    return RulePublic.model_validate(await segments.rule(session, rule_id))


@router.patch(
    "/admin/recommendation-rules/{rule_id}",
    tags=["admin"],
    responses=errors(401, 403, 404, OFFER_ERRORS, RULE_EXISTS),
)
async def change_rule(
    rule_id: uuid.UUID, body: RuleChange, admin: Admin, session: SessionDep
) -> RulePublic:
    """Change a rule's fields given (audited)."""
    changes = body.model_dump(exclude_none=True)
    changed = await segments.change_rule(session, rule_id, changes)
    await audit.record(
        session,
        admin.account_id,
        "rule.update",
        RULE,
        rule_id,
        body.model_dump(mode="json", exclude_none=True),
    )
    return RulePublic.model_validate(changed)


@router.delete(
    "/admin/recommendation-rules/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["admin"],
    responses=errors(*OWNED, 403),
)
async def remove_rule(rule_id: uuid.UUID, admin: Admin, session: SessionDep) -> None:
    """Remove a rule (audited)."""
    await segments.remove_rule(session, rule_id)
    await audit.record(session, admin.account_id, "rule.delete", RULE, rule_id)


# the quiz


def _quiz(outcome: segments.QuizOutcome) -> QuizPublic:
    return QuizPublic.model_validate(
        Extended(outcome.result, suggestions=list(outcome.suggestions))
    )


@router.post(
    "/quiz/submit",
    status_code=status.HTTP_201_CREATED,
    tags=["quiz"],
    responses=errors(401, (422, "Invalid input (`validation_error`), or no consent"
                          " (`consent_required`)")),
)  # fmt: skip
async def submit_quiz(body: QuizSubmit, user: CurrentUser, session: SessionDep) -> QuizPublic:
    """Take the play-style survey and the responsible-play self-check. Stored only with
    `consent: true`. A high-risk result only ever reduces pressure: no promotional offers or
    campaigns reach you while it is your latest."""
    outcome = await segments.submit_quiz(
        session,
        user.account_id,
        consent=body.consent,
        survey=body.survey.model_dump(mode="json"),
        self_check=body.self_check,
        now=utcnow(),
    )
    return _quiz(outcome)


@router.get("/quiz/me", tags=["quiz"], responses=errors(401, (404, "Not taken (`quiz_not_taken`)")))
async def my_quiz(user: CurrentUser, session: SessionDep) -> QuizPublic:
    """Your latest quiz result."""
    return _quiz(await segments.last_quiz(session, user.account_id))
