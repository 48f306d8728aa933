"""Focus Mate's app-wide request and response bodies (users), and the error answers its routes
document. Each domain keeps its own bodies in its sub-package's `schemas.py`."""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from ensemble.apps.focus.domain import (
    BREAK_MINUTES,
    LONG_BREAK_MINUTES,
    WORK_MINUTES,
    Channel,
    NotificationKind,
    Preferences,
)
from ensemble.apps.focus.models import Role
from ensemble.kernel.identity.schemas import NEW_PASSWORD
from ensemble.kernel.openapi import errors_described
from ensemble.kernel.schemas import ClosedRequestModel, FromText, ResponseModel

PREFIX = "/api/v1"
"""Where every route of the app lives (the root's and each domain's router carry it)."""

VISIBLE_TEXT = r"^[^\x00]*[^\x00\s][^\x00]*$"
"""A pattern: some visible character, and no NUL (PostgreSQL text cannot hold it)."""
ANY_TEXT = r"^[^\x00]*$"
"""A pattern: any text but NUL, blank included."""

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


errors = errors_described(_DESCRIBED)
"""`responses=` for the error statuses a route can answer (see `_DESCRIBED`)."""


Strict = ClosedRequestModel
"""A request body: strict types, no unknown fields."""


class Patch(Strict):
    """A partial update: a field left out keeps its value, and only the fields named in
    `NULLABLE` may be set to null (others default to None only to say "left out")."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_where_a_value_is_required(self) -> Self:
        nulled = sorted(
            name for name in self.model_fields_set - self.NULLABLE if getattr(self, name) is None
        )
        if nulled:
            raise ValueError(f"these fields cannot be null: {', '.join(nulled)}")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the request named, with their new values."""
        return self.model_dump(include=self.model_fields_set)


class UserPublic(ResponseModel):
    """The caller's own account."""

    user_id: uuid.UUID = Field(validation_alias="account_id")
    email: str
    display_name: str
    role: Role
    created_at: datetime


class UserUpdate(Strict):
    display_name: str = DISPLAY_NAME


class PasswordChange(Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = NEW_PASSWORD


class ProfilePublic(ResponseModel):
    """What anyone sees of a user: its name, since when it is here, how much it focused."""

    user_id: uuid.UUID = Field(validation_alias="account_id")
    display_name: str
    member_since: datetime = Field(validation_alias="created_at")
    focus_minutes: int = Field(description="Minutes focused in every work phase ended so far")
    sessions: int = Field(description="Work phases completed (present for at least 80 %)")


# settings


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _time_zone(name: str) -> str:
    if name not in _time_zones():
        raise PydanticCustomError("time_zone", "Input should be an IANA time zone name")
    return name


TimeZoneName = Annotated[
    str, Field(min_length=1, max_length=64, examples=["Asia/Seoul"]), AfterValidator(_time_zone)
]
"""An IANA time zone name (`Europe/Paris`, `UTC`), as `zoneinfo` knows it."""


def left_out(**bounds: Any) -> Any:
    """The default of a `Patch` field that must have a value when named: None, read as
    "left out" (typed `Any` so the field keeps its non-optional type)."""
    return Field(default=None, **bounds)


def _minutes(bounds: tuple[int, int, int]) -> Any:
    low, high, _ = bounds
    return left_out(ge=low, le=high)


class SettingsPublic(ResponseModel):
    timezone: str
    work_minutes: int
    break_minutes: int
    long_break_minutes: int
    sound: bool
    presence_visible: bool
    notifications: Preferences = Field(
        description="Every channel and kind: whether you get those notifications there"
    )
    updated_at: datetime


class SettingsUpdate(Patch):
    """What to change; a field left out keeps its value. `notifications` changes the kinds
    it names, channel by channel."""

    timezone: TimeZoneName = left_out()
    work_minutes: int = _minutes(WORK_MINUTES)
    break_minutes: int = _minutes(BREAK_MINUTES)
    long_break_minutes: int = _minutes(LONG_BREAK_MINUTES)
    sound: bool = left_out()
    presence_visible: bool = left_out()
    notifications: dict[FromText[Channel], dict[FromText[NotificationKind], bool]] = left_out()
