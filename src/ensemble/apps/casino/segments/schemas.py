"""Segments' request and response bodies: personalized offers, recommendation rules, the quiz."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, model_validator

from ensemble.apps.casino.segments.domain import (
    ANSWER_MAX,
    SELF_CHECK,
    Motivation,
    OfferKind,
    PlayStyle,
    RfmGroup,
    RiskLevel,
    RuleSegment,
    SessionLength,
)
from ensemble.kernel.schemas import ClosedRequestModel, FromText, ResponseModel, RowId

REF_PATTERN = r"^[A-Za-z0-9_.:-]+$"
REF = Field(min_length=1, max_length=64, pattern=REF_PATTERN)
TITLE = Field(min_length=1, max_length=100)
RANK = Field(ge=1, le=1000)


class SegmentPublic(ResponseModel):
    rfm_group: RfmGroup
    r: int
    f: int
    m: int
    ltv_score: Decimal
    updated_at: datetime


class OfferPublic(ResponseModel):
    """One recommended offer (a rule of the member's segment)."""

    rule_id: RowId
    kind: OfferKind
    ref: str = Field(description="The product id, mission key, banner id or suggestion key")
    title: str
    rank: int
    promotional: bool


class PersonalizedPublic(ResponseModel):
    segment: SegmentPublic | None = Field(description="Null until the RFM job places you")
    risk_level: RiskLevel | None = Field(description="Your last self-check's level, if any")
    offers: list[OfferPublic] = Field(description="Best first")


class RuleCreate(ClosedRequestModel):
    segment: FromText[RuleSegment]
    kind: FromText[OfferKind]
    ref: str = REF
    title: str = TITLE
    rank: int = RANK
    promotional: bool

    @model_validator(mode="after")
    def _limits_never_promote(self) -> RuleCreate:
        if self.kind is OfferKind.LIMIT and self.promotional:
            raise ValueError("a limit suggestion is never promotional")
        return self


class RuleChange(ClosedRequestModel):
    """Only the fields given (not null) change."""

    segment: FromText[RuleSegment] | None = None
    ref: str | None = Field(default=None, min_length=1, max_length=64, pattern=REF_PATTERN)
    title: str | None = Field(default=None, min_length=1, max_length=100)
    rank: int | None = Field(default=None, ge=1, le=1000)
    promotional: bool | None = None


class RulePublic(ResponseModel):
    rule_id: RowId
    segment: RuleSegment
    kind: OfferKind
    ref: str
    title: str
    rank: int
    promotional: bool
    updated_at: datetime


# the quiz


class Survey(ClosedRequestModel):
    motivation: FromText[Motivation]
    session_length: FromText[SessionLength]


Answer = Annotated[int, Field(ge=0, le=ANSWER_MAX)]


class QuizSubmit(ClosedRequestModel):
    """`POST /api/quiz/submit`: the survey, the self-check's answers (0 never, 1 sometimes,
    2 most of the time, 3 almost always) in the order of `SELF_CHECK`, and your consent to
    store them (required: `consent_required` otherwise)."""

    consent: bool
    survey: Survey
    self_check: list[Answer] = Field(min_length=len(SELF_CHECK), max_length=len(SELF_CHECK))


class QuizPublic(ResponseModel):
    quiz_id: RowId
    play_style: PlayStyle
    risk_score: int = Field(description=f"0 to {ANSWER_MAX * len(SELF_CHECK)}")
    risk_level: RiskLevel
    suggestions: list[str] = Field(description="Responsible-play suggestions for your level")
    created_at: datetime
