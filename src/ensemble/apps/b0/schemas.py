"""B0 request and response bodies (field names follow the source: `user_id`, `city_id`, …),
and the error answers its routes document."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from ensemble.apps.b0.domain import Reason, is_single_emoji
from ensemble.apps.b0.models import GuestHouseType, StayStatus, TicketStatus
from ensemble.kernel.ledger.models import Direction
from ensemble.kernel.openapi import errors_described
from ensemble.kernel.schemas import FromText, RequestModel, ResponseModel, RowId

PREFIX = "/api/v1"
"""Where every route of the app lives (the root's and each domain's router carry it, so a
route knows its full path: logs, metrics and spans name it)."""

_DESCRIBED = {
    401: "Missing, expired or forged token",
    404: "Not found, or not yours; also when the caller has no user yet"
    " (`user_not_registered`: `POST /users` first)",
    422: "Invalid input (`validation_error`, `invalid_cursor`)",
}
USER = (401, 404)
USER_INPUT = (401, 404, 422)
"""The usual error statuses of a route: a registered caller's, with input."""
NOT_A_GUEST = (403, "Not a guest of this room (`not_a_member`)")


errors = errors_described(_DESCRIBED)
"""`responses=` for the error statuses a route can answer (see `_DESCRIBED`)."""


def _emoji(value: str) -> str:
    if not is_single_emoji(value):
        raise ValueError("profile must be exactly one emoji")
    return value


Nickname = Annotated[str, Field(min_length=2, max_length=10, pattern=r"^\S(.*\S)?$")]
Emoji = Annotated[str, AfterValidator(_emoji)]


class UserUpdate(RequestModel):
    nickname: Nickname | None = None
    profile: Emoji | None = None


class UserPublic(ResponseModel):
    user_id: RowId
    email: str | None
    nickname: str | None
    profile: str | None
    current_points: int
    created_at: datetime
    updated_at: datetime


class PointTransactionPublic(ResponseModel):
    point_transaction_id: RowId
    type: Direction = Field(validation_alias="direction")
    amount: int
    reason: Reason
    balance_before: int
    balance_after: int
    status: Literal["PENDING", "COMPLETED", "FAILED"] = "COMPLETED"
    reference_type: str | None
    reference_id: str | None
    description: str | None
    created_at: datetime


class CityPublic(ResponseModel):
    city_id: RowId
    name: str
    description: str | None
    image_url: str | None
    is_active: bool
    base_cost_points: int
    base_duration_hours: float
    display_order: int


class AirshipPublic(ResponseModel):
    airship_id: RowId
    name: str
    description: str | None
    cost_factor: float
    duration_factor: float
    is_active: bool


class TicketCreate(RequestModel):
    city_id: FromText[uuid.UUID]
    airship_id: FromText[uuid.UUID]


class TicketPublic(ResponseModel):
    ticket_id: RowId
    ticket_number: str
    user_id: uuid.UUID
    city_snapshot: dict[str, Any]
    airship_snapshot: dict[str, Any]
    cost_points: int
    status: TicketStatus
    departure_datetime: datetime
    arrival_datetime: datetime
    created_at: datetime


class GuestHousePublic(ResponseModel):
    guest_house_id: RowId
    city_id: uuid.UUID
    name: str
    guest_house_type: GuestHouseType


class RoomPublic(ResponseModel):
    room_id: RowId
    guest_house_id: uuid.UUID
    capacity: int
    current_occupancy: int


class RoomStayPublic(ResponseModel):
    room_stay_id: RowId
    user_id: uuid.UUID
    ticket_id: uuid.UUID
    status: StayStatus
    check_in_at: datetime
    scheduled_check_out_at: datetime
    actual_check_out_at: datetime | None
    room: RoomPublic
    guest_house: GuestHousePublic


class MemberPublic(ResponseModel):
    user_id: RowId
    nickname: str | None
    profile: str | None
    check_in_at: datetime


class ChatMessagePublic(BaseModel):
    chat_message_id: uuid.UUID
    room_id: uuid.UUID
    user_id: uuid.UUID | None
    message_type: Literal["USER", "SYSTEM"]
    content: str
    created_at: datetime


class ChatMessageCreate(RequestModel):
    content: str = Field(min_length=1, max_length=300)


class DiaryCreate(RequestModel):
    title: str = Field(min_length=1, max_length=100)
    content: str = Field(min_length=1, max_length=5000)
    mood: str | None = Field(default=None, max_length=32)


class DiaryPublic(ResponseModel):
    diary_id: RowId
    diary_date: date
    title: str
    content: str
    mood: str | None
    created_at: datetime


class QuestionPublic(ResponseModel):
    question_id: RowId
    content: str
    display_order: int
    my_answer: str | None


class AnswerCreate(RequestModel):
    content: str = Field(min_length=1, max_length=2000)


class AnswerPublic(ResponseModel):
    answer_id: RowId
    question_id: uuid.UUID
    content: str
    created_at: datetime
