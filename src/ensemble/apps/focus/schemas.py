"""Focus Mate's app-wide request and response bodies (users), and the error answers its routes
document. Each domain keeps its own bodies in its sub-package's `schemas.py`."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ConfigDict, Field

from ensemble.apps.focus.models import Role
from ensemble.kernel.openapi import Responses, error_responses
from ensemble.kernel.schemas import RequestModel, ResponseModel

PREFIX = "/api/v1"
"""Where every route of the app lives (the root's and each domain's router carry it)."""

DISPLAY_NAME = Field(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f]+$")

_DESCRIBED = {
    401: "No valid access token (missing, expired, revoked or forged), or the account is"
    " disabled or suspended (`account_disabled`)",
    403: "Not allowed for your role or in this room (`role_forbidden`, `not_a_member`, …)",
    404: "No such item, or not visible to you",
    409: "Conflicts with the current state (see `code`)",
    422: "Invalid input (`validation_error`, `invalid_cursor`, …)",
}
USER = (401,)
INPUT = (401, 422)
OWNED = (401, 404, 422)
"""The usual error statuses of a route: any caller's, with input, about an item of theirs."""


def errors(*errors: int | tuple[int, str]) -> Responses:
    """`responses=` for the error statuses a route can answer (see `_DESCRIBED`)."""
    return error_responses(*errors, described=_DESCRIBED)


class Strict(RequestModel):
    """A request body: strict types, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class UserPublic(ResponseModel):
    """The caller's own account."""

    user_id: uuid.UUID = Field(validation_alias="account_id")
    email: str
    display_name: str
    role: Role
    created_at: datetime


class UserUpdate(Strict):
    display_name: str = DISPLAY_NAME


class ProfilePublic(ResponseModel):
    """What anyone sees of a user."""

    user_id: uuid.UUID = Field(validation_alias="account_id")
    display_name: str
    created_at: datetime
