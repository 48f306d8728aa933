"""B0 request and response bodies; field names follow the source (`user_id`, `city_id`, …)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from ensemble.apps.b0.domain import Reason, is_single_emoji
from ensemble.apps.b0.models import GuestHouseType, StayStatus, TicketStatus
from ensemble.kernel.ledger.models import Direction
from ensemble.kernel.schemas import FromText, RequestModel


def _emoji(value: str) -> str:
    if not is_single_emoji(value):
        raise ValueError("profile must be exactly one emoji")
    return value


Nickname = Annotated[str, Field(min_length=2, max_length=10, pattern=r"^\S(.*\S)?$")]
Emoji = Annotated[str, AfterValidator(_emoji)]


class UserUpdate(RequestModel):
    nickname: Nickname | None = None
    profile: Emoji | None = None


class UserPublic(BaseModel):
    user_id: uuid.UUID
    email: str | None
    nickname: str | None
    profile: str | None
    current_points: int
    created_at: datetime
    updated_at: datetime


class PointTransactionPublic(BaseModel):
    point_transaction_id: uuid.UUID
    type: Direction
    amount: int
    reason: Reason
    balance_before: int
    balance_after: int
    status: Literal["PENDING", "COMPLETED", "FAILED"] = "COMPLETED"
    reference_type: str | None
    reference_id: str | None
    description: str | None
    created_at: datetime


class CityPublic(BaseModel):
    city_id: uuid.UUID
    name: str
    description: str | None
    image_url: str | None
    is_active: bool
    base_cost_points: int
    base_duration_hours: float
    display_order: int


class AirshipPublic(BaseModel):
    airship_id: uuid.UUID
    name: str
    description: str | None
    cost_factor: float
    duration_factor: float
    is_active: bool


class TicketCreate(RequestModel):
    city_id: FromText[uuid.UUID]
    airship_id: FromText[uuid.UUID]


class TicketPublic(BaseModel):
    ticket_id: uuid.UUID
    ticket_number: str
    user_id: uuid.UUID
    city_snapshot: dict[str, Any]
    airship_snapshot: dict[str, Any]
    cost_points: int
    status: TicketStatus
    departure_datetime: datetime
    arrival_datetime: datetime
    created_at: datetime


class GuestHousePublic(BaseModel):
    guest_house_id: uuid.UUID
    city_id: uuid.UUID
    name: str
    guest_house_type: GuestHouseType


class RoomPublic(BaseModel):
    room_id: uuid.UUID
    guest_house_id: uuid.UUID
    capacity: int
    current_occupancy: int


class RoomStayPublic(BaseModel):
    room_stay_id: uuid.UUID
    user_id: uuid.UUID
    ticket_id: uuid.UUID
    status: StayStatus
    check_in_at: datetime
    scheduled_check_out_at: datetime
    actual_check_out_at: datetime | None
    room: RoomPublic
    guest_house: GuestHousePublic


class MemberPublic(BaseModel):
    user_id: uuid.UUID
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


class DiaryPublic(BaseModel):
    diary_id: uuid.UUID
    diary_date: date
    title: str
    content: str
    mood: str | None
    created_at: datetime


class QuestionPublic(BaseModel):
    question_id: uuid.UUID
    content: str
    display_order: int
    my_answer: str | None


class AnswerCreate(RequestModel):
    content: str = Field(min_length=1, max_length=2000)


class AnswerPublic(BaseModel):
    answer_id: uuid.UUID
    question_id: uuid.UUID
    content: str
    created_at: datetime
