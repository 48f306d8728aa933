"""Room request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import Field, model_validator

from ensemble.apps.focus import domain
from ensemble.apps.focus.models import Control, Visibility
from ensemble.apps.focus.schemas import Strict
from ensemble.kernel.schemas import FromText, ResponseModel, RowId

RoomName = Annotated[
    str,
    Field(
        min_length=domain.NAME_MIN,
        max_length=domain.NAME_MAX,
        pattern=r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$",
    ),
]
"""3–50 characters, no control characters, no surrounding spaces."""
WorkMinutes = Annotated[int, Field(ge=domain.WORK_MINUTES[0], le=domain.WORK_MINUTES[1])]
BreakMinutes = Annotated[int, Field(ge=domain.BREAK_MINUTES[0], le=domain.BREAK_MINUTES[1])]
LongBreakMinutes = Annotated[
    int, Field(ge=domain.LONG_BREAK_MINUTES[0], le=domain.LONG_BREAK_MINUTES[1])
]
LongBreakEvery = Annotated[int, Field(ge=domain.LONG_BREAK_EVERY[0], le=domain.LONG_BREAK_EVERY[1])]
MaxParticipants = Annotated[
    int, Field(ge=domain.MAX_PARTICIPANTS[0], le=domain.MAX_PARTICIPANTS[1])
]


class RoomCreate(Strict):
    """A new room. Durations left out take the creator's settings; the rest their defaults."""

    name: RoomName
    work_minutes: WorkMinutes | None = None
    break_minutes: BreakMinutes | None = None
    long_break_minutes: LongBreakMinutes | None = None
    long_break_every: LongBreakEvery = domain.LONG_BREAK_EVERY[2]
    max_participants: MaxParticipants = domain.MAX_PARTICIPANTS[2]
    visibility: FromText[Visibility] = Visibility.PUBLIC
    control: FromText[Control] = Control.OWNER
    auto_start_breaks: bool = True


class RoomUpdate(Strict):
    """The settings to change (the owner's); a field left out keeps its value, `null` is
    refused. Durations apply from the next phase; making a room private gives it a join
    code, making it public drops the code."""

    name: RoomName | None = None
    work_minutes: WorkMinutes | None = None
    break_minutes: BreakMinutes | None = None
    long_break_minutes: LongBreakMinutes | None = None
    long_break_every: LongBreakEvery | None = None
    max_participants: MaxParticipants | None = None
    visibility: FromText[Visibility] | None = None
    control: FromText[Control] | None = None
    auto_start_breaks: bool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"these settings cannot be null: {', '.join(nulls)}")
        return self

    def changes(self) -> dict[str, Any]:
        """The settings sent, by name."""
        return self.model_dump(exclude_unset=True)


class JoinRequest(Strict):
    join_code: str | None = Field(
        default=None, min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$"
    )
    """Required for a private room (its members and owner need none)."""


class UserRef(Strict):
    user_id: FromText[uuid.UUID]


class KickRequest(UserRef):
    ban: bool = False
    """Also ban them: they cannot join again."""


class RoomPublic(ResponseModel):
    """A room. `join_code` only for its members and owner (None otherwise, and for public
    rooms)."""

    room_id: RowId
    name: str
    owner_id: uuid.UUID
    work_minutes: int
    break_minutes: int
    long_break_minutes: int
    long_break_every: int
    max_participants: int
    member_count: int
    visibility: Visibility
    control: Control
    auto_start_breaks: bool
    join_code: str | None
    created_at: datetime
    archived_at: datetime | None


class MembershipPublic(ResponseModel):
    room_id: uuid.UUID
    user_id: uuid.UUID
    joined_at: datetime


class ParticipantPublic(ResponseModel):
    user_id: uuid.UUID
    display_name: str
    joined_at: datetime
    is_owner: bool
