"""ECO² request and response bodies, and the error answers its routes document."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    Field,
    model_validator,
)

from ensemble.apps.eco.domain import (
    NOTIFICATION_KINDS,
    RARITIES,
    REFUSAL_REASONS,
    SCAN_FAILURES,
    categories,
)
from ensemble.apps.eco.models import RewardStatus, Role, ScanStatus
from ensemble.kernel.openapi import errors_described
from ensemble.kernel.schemas import ClosedRequestModel, FromText, ResponseModel, RowId

PREFIX = "/api/v1"
"""Where every route of the app lives (the root's and each domain's router carry it, so a
route knows its full path: logs, metrics and spans name it)."""

CategoryCode = Annotated[str, Field(json_schema_extra={"enum": sorted(categories())})]
RefusalReason = Annotated[str, Field(json_schema_extra={"enum": list(REFUSAL_REASONS)})]
ScanFailure = Annotated[str, Field(json_schema_extra={"enum": list(SCAN_FAILURES)})]
NotificationKind = Annotated[str, Field(json_schema_extra={"enum": list(NOTIFICATION_KINDS)})]
Rarity = Annotated[str, Field(json_schema_extra={"enum": list(RARITIES)})]
"""Strings from a fixed vocabulary: enums in the OpenAPI document."""
NICKNAME = Field(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f]+$")


_DESCRIBED = {
    401: "No valid access token (missing, expired, revoked or forged), or the account is"
    " disabled (`account_disabled`)",
    403: "Not an administrator (`role_forbidden`)",
    404: "No such item, or not yours",
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


# auth


class UserPublic(ResponseModel):
    user_id: RowId
    email: str
    role: Role
    created_at: datetime


# images


ImageType = Literal["image/jpeg", "image/png", "image/webp", "image/heic"]


class PresignRequest(Strict):
    content_type: ImageType
    size: int = Field(ge=1, le=2**40, description="bytes; at most the configured maximum")
    filename: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f/\\]+$",
        description="the photo's file name (its words help the offline classifier)",
    )


class PresignResponse(BaseModel):
    upload_id: uuid.UUID
    upload_url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    expires_at: datetime


class RegisterRequest(Strict):
    upload_id: FromText[uuid.UUID] | None = None
    cdn_url: AnyHttpUrl | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _exactly_one(self) -> RegisterRequest:
        if (self.upload_id is None) == (self.cdn_url is None):
            raise ValueError("give exactly one of upload_id and cdn_url")
        return self


class ImagePublic(ResponseModel):
    image_id: RowId
    url: str
    content_type: str | None
    size: int | None
    created_at: datetime


# scan


class ClassifyRequest(Strict):
    image_id: FromText[uuid.UUID] | None = None
    image_url: AnyHttpUrl | None = Field(default=None, max_length=2000)
    user_input: str | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _something_to_classify(self) -> ClassifyRequest:
        if self.image_id is None and self.image_url is None and self.user_input is None:
            raise ValueError("give image_id, image_url or user_input")
        return self


class ClassifyAccepted(ResponseModel):
    task_id: RowId
    status: ScanStatus


class CharacterBrief(BaseModel):
    character_id: uuid.UUID
    code: str
    name: str


class Reward(ResponseModel):  # read from the scan row's `reward_*` columns
    status: RewardStatus = Field(validation_alias="reward_status")
    character: CharacterBrief | None = Field(default=None, validation_alias="reward_character")
    reason: RefusalReason | None = Field(default=None, validation_alias="reward_reason")


class ScanTask(ResponseModel):
    task_id: RowId
    status: ScanStatus
    category: CategoryCode | None = None
    confidence: float | None = None
    disposal_guide: dict[str, Any] | None = None
    reward: Reward | None = None
    error: ScanFailure | None = None
    created_at: datetime
    completed_at: datetime | None = None


class ScanHistoryItem(BaseModel):
    task_id: uuid.UUID
    status: ScanStatus
    category: CategoryCode | None = None
    reward_status: RewardStatus | None = None
    character_name: str | None = None
    requested_at: datetime


# characters


class CharacterPublic(ResponseModel):
    character_id: RowId
    code: str
    name: str
    category: CategoryCode
    rarity: Rarity
    description: str


class OwnedCharacter(BaseModel):
    character_id: uuid.UUID
    code: str
    name: str
    category: CategoryCode
    acquired_at: datetime
    scan_id: uuid.UUID | None = None


class OwnedCharacters(BaseModel):
    items: list[OwnedCharacter]
    total: int
    at: AwareDatetime | None = None


class RankingEntry(BaseModel):
    rank: int
    user_id: uuid.UUID
    characters: int
    me: bool


class Ranking(BaseModel):
    period: Literal["weekly"]
    key: str
    items: list[RankingEntry]


# my


class ProfilePublic(ResponseModel):
    user_id: uuid.UUID
    nickname: str | None
    total_scans: int
    total_characters: int
    last_activity_at: datetime | None
    updated_at: datetime


class ProfileUpdate(Strict):
    nickname: str = NICKNAME


class NotificationPublic(ResponseModel):
    notification_id: RowId
    kind: NotificationKind
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime


# locations


class CentrePublic(ResponseModel):
    centre_id: RowId
    name: str
    district: str | None
    address: str | None
    lat: float
    lng: float
    categories: list[str]
    phone: str | None
    opening_hours: str | None
    distance_km: float


# chat


class ChatSessionCreate(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=200)


class ChatSessionPublic(ResponseModel):
    session_id: RowId
    title: str | None
    created_at: datetime


class ChatMessageCreate(Strict):
    content: str = Field(min_length=1, max_length=2000)


class ChatMessagePublic(ResponseModel):
    message_id: RowId
    session_id: uuid.UUID
    role: Literal["user", "assistant"]
    content: str
    category: CategoryCode | None
    reply_to: uuid.UUID | None
    created_at: datetime


class ChatMessageAccepted(BaseModel):
    message: ChatMessagePublic
    status: Literal["answering"] = "answering"
