"""Actions' request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from ensemble.apps.casino.actions.domain import (
    ACTION_TYPE_PATTERN,
    CONTEXT_MAX_BYTES,
    CONTEXT_MAX_DEPTH,
    context_problem,
)
from ensemble.kernel.schemas import ClosedRequestModel, ResponseModel, RowId

ACTION_TYPE = Field(pattern=ACTION_TYPE_PATTERN, examples=["SLOT_SPIN"])


class ActionRequest(ClosedRequestModel):
    """`POST /api/actions`: an action of yours and what the client knows about it."""

    action_type: str = ACTION_TYPE
    context: dict[str, Any] = Field(
        default_factory=dict,
        description=f"A JSON object of at most {CONTEXT_MAX_BYTES} bytes, nested at most"
        f" {CONTEXT_MAX_DEPTH} deep; personal data (e-mail, phone, names, addresses, card"
        " numbers, passwords, tokens…) is stripped before it is stored",
    )

    @field_validator("context")
    @classmethod
    def _bounded(cls, context: dict[str, Any]) -> dict[str, Any]:
        if problem := context_problem(context):
            raise ValueError(problem)
        return context


class ActionPublic(ResponseModel):
    """An action as stored (its context stripped of personal data)."""

    action_id: RowId
    action_type: str
    context: dict[str, Any]
    created_at: datetime


class ActionTypeCreate(ClosedRequestModel):
    code: str = ACTION_TYPE
    description: str = Field(default="", max_length=200)


class ActionTypePublic(ResponseModel):
    code: str
    description: str
    created_by: uuid.UUID | None = Field(description="The admin who added it (null if seeded)")
    created_at: datetime
