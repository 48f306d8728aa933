"""The admin's bodies and answers: members, banners, invite batches, the audit log and the
events debug routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ensemble.apps.casino.actions.domain import (
    CONTEXT_MAX_BYTES,
    CONTEXT_MAX_DEPTH,
    context_problem,
)
from ensemble.apps.casino.domain import Rank, UserStatus
from ensemble.apps.casino.gacha.schemas import BANNER_ID, BannerPublic
from ensemble.apps.casino.schemas import SessionPublic
from ensemble.kernel.schemas import ClosedRequestModel, FromText, Instant, ResponseModel

REASON = Field(default=None, min_length=1, max_length=500)
MAX_COST = 10**9
MAX_INVITE_BATCH = 100


class _Changes(ClosedRequestModel):
    """A PATCH body: only the fields sent change, at least one is sent, and those in
    `NOT_NULL` are not sent as null."""

    NOT_NULL: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _something(self) -> _Changes:
        if not self.model_fields_set - {"reason"}:
            raise ValueError("nothing to change")
        if nulls := sorted(
            n for n in self.NOT_NULL & self.model_fields_set if getattr(self, n) is None
        ):
            raise ValueError(f"cannot be null: {', '.join(nulls)}")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(self.model_fields_set - {"reason"})}


# members


class MemberUpdate(_Changes):
    """A member's new rank and/or status (`deleted` is `DELETE`'s), with the reason."""

    rank: FromText[Rank] | None = None
    status: Literal[UserStatus.ACTIVE, UserStatus.SUSPENDED] | None = Field(
        default=None, description="`active` or `suspended`"
    )
    reason: str | None = REASON

    NOT_NULL = frozenset({"rank", "status"})


class MemberSummary(ResponseModel):
    """A member in the admin's list."""

    user_id: uuid.UUID = Field(validation_alias="account_id")
    nickname: str
    rank: Rank
    status: UserStatus
    vip_tier: int
    created_at: datetime
    last_login_at: datetime | None


class MemberCounts(ResponseModel):
    actions: int
    hands: int
    purchases: int
    rewards: int


class MemberDetail(MemberSummary):
    """Everything an admin sees of a member."""

    status_reason: str | None
    status_changed_at: datetime | None
    time_zone: str
    invite_code: str | None
    coins: int
    gems: int
    streak: int = Field(description="Consecutive days with a login (A5)")
    counts: MemberCounts
    sessions: list[SessionPublic] = Field(description="The live sessions, the newest first")


# catalogue


class BannerCreate(ClosedRequestModel):
    """A new gacha banner; it has no rates until a rate table is published for it (which
    applies only after the notice), so nobody can pull before its rates are public."""

    banner_id: str = Field(pattern=BANNER_ID)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    currency: Literal["coins", "gems"]
    cost_single: int = Field(gt=0, le=MAX_COST)
    cost_ten: int = Field(gt=0, le=MAX_COST)
    hard_pity: int = Field(ge=1, le=1000)
    starts_at: Instant | None = Field(default=None, description="Default: now")
    ends_at: Instant | None = None

    @model_validator(mode="after")
    def _window(self) -> BannerCreate:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class BannerUpdate(_Changes):
    """What may change on a banner (its pity rule is part of its published rates: fixed).
    `close: true` ends it now; `ends_at` sets (or with null removes) its end."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    cost_single: int | None = Field(default=None, gt=0, le=MAX_COST)
    cost_ten: int | None = Field(default=None, gt=0, le=MAX_COST)
    ends_at: Instant | None = None
    close: Literal[True] | None = None

    NOT_NULL = frozenset({"name", "description", "cost_single", "cost_ten", "close"})

    @model_validator(mode="after")
    def _close_or_end(self) -> BannerUpdate:
        if self.close and "ends_at" in self.model_fields_set:
            raise ValueError("send close or ends_at, not both")
        return self


class BannerAdmin(BannerPublic):
    created_at: datetime


# invites


class InviteBatchCreate(ClosedRequestModel):
    count: int = Field(ge=1, le=MAX_INVITE_BATCH, description="How many codes")
    expires_at: Instant | None = None
    max_uses: int = Field(default=1, ge=1, le=10**6, description="Sign-ups each code allows")


class InviteAdmin(ResponseModel):
    code: str
    is_active: bool
    max_uses: int
    uses: int
    expires_at: datetime | None
    created_by: uuid.UUID | None
    used_by: uuid.UUID | None = Field(description="The last member it signed up")
    used_at: datetime | None
    created_at: datetime


class InviteBatch(ResponseModel):
    batch_id: uuid.UUID = Field(description="The audit log's target of the batch")
    codes: list[InviteAdmin]


# audit


class AuditEntryPublic(ResponseModel):
    entry_id: uuid.UUID = Field(validation_alias="id")
    admin_id: uuid.UUID
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    at: datetime


# events debug


class DebugEventCreate(ClosedRequestModel):
    """A test event (`casino.debug`) through the outbox and the bus."""

    message: str = Field(min_length=1, max_length=500)
    data: dict[str, Any] = Field(
        default_factory=dict,
        description=f"A JSON object of at most {CONTEXT_MAX_BYTES} bytes, nested at most"
        f" {CONTEXT_MAX_DEPTH} deep",
    )

    @field_validator("data")
    @classmethod
    def _bounded(cls, data: dict[str, Any]) -> dict[str, Any]:
        if problem := context_problem(data):
            raise ValueError(problem)
        return data


class EventPublic(ResponseModel):
    """An event of the outbox; its payload with personal data filtered out."""

    event_id: uuid.UUID
    type: str
    aggregate_type: str
    aggregate_id: str
    version: int
    payload: Any
    occurred_at: datetime
    published_at: datetime | None = Field(description="When the relay put it on the bus")


class RelayLag(ResponseModel):
    pending: int = Field(description="Events in the outbox not yet on the bus")
    oldest_pending_at: datetime | None
    lag_seconds: float = Field(description="Age of the oldest pending event (0 when none)")


class ConsumerPosition(ResponseModel):
    consumer: str
    processed: int = Field(description="Events handled (as long as they are kept)")
    last_processed_at: datetime | None
    dead_letters: int = Field(description="Given up on, not re-driven")


class StreamGroup(ResponseModel):
    """A consumer group of a Redis stream (Redis Streams transport only)."""

    stream: str
    group: str
    last_delivered_id: str
    pending: int = Field(description="Delivered, not yet acknowledged")
    lag: int | None = Field(description="Entries not yet delivered (null if Redis cannot tell)")


class BusHealth(ResponseModel):
    transport: Literal["redis-streams", "kafka"]
    relay: RelayLag
    consumers: list[ConsumerPosition]
    streams: list[StreamGroup]
