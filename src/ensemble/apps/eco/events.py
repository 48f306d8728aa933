"""The events ECO² publishes and consumes: aggregate types (one stream each), event types
and their versioned payloads.

Every ECO² event is appended to the kernel event store and published through the outbox in
the transaction of the change it describes (`store.append(..., publish=True)`), so the read
models can be rebuilt from the store. Payloads only ever gain optional fields: a consumer
reads every older version (see `kernel.events.envelope`).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from pydantic import Field

from ensemble.kernel.events import EventPayload

# Aggregate types: the stream `events:<type>`; the aggregate id is the partition key.
IMAGE = "eco.image"  # id: image id
SCAN = "eco.scan"  # id: scan (task) id
CHARACTER = "eco.character"  # id: user id (CharacterOwnership)
PROFILE = "eco.profile"  # id: user id

IMAGE_REGISTERED = "ImageRegistered"
SCAN_REQUESTED = "ScanRequested"
SCAN_COMPLETED = "ScanCompleted"
SCAN_FAILED = "ScanFailed"
SCAN_REWARD_GRANTED = "ScanRewardGranted"
SCAN_REWARD_COMPENSATED = "ScanRewardCompensated"
CHARACTER_ACQUIRED = "CharacterAcquired"
CHARACTER_ACQUIRE_FAILED = "CharacterAcquireFailed"
PROFILE_UPDATED = "ProfileUpdated"


class EcoEvent(EventPayload):
    """A payload of an ECO² event, at its current `VERSION`."""

    VERSION: ClassVar[int] = 1


class ImageRegistered(EcoEvent):
    image_id: uuid.UUID
    user_id: uuid.UUID
    url: str
    content_type: str | None = None


class ScanRequested(EcoEvent):
    scan_id: uuid.UUID
    user_id: uuid.UUID
    image_id: uuid.UUID | None = None
    has_text: bool = False


class ScanCompleted(EcoEvent):
    """Version 2 added `confidence` (absent from version 1 events)."""

    VERSION: ClassVar[int] = 2
    scan_id: uuid.UUID
    user_id: uuid.UUID
    category: str
    reward_eligible: bool
    confidence: float | None = None


class ScanFailed(EcoEvent):
    scan_id: uuid.UUID
    user_id: uuid.UUID
    reason: str


class ScanRewardGranted(EcoEvent):
    scan_id: uuid.UUID
    user_id: uuid.UUID
    character_id: uuid.UUID
    character_code: str
    character_name: str


class ScanRewardCompensated(EcoEvent):
    scan_id: uuid.UUID
    user_id: uuid.UUID
    compensation_reason: str
    character_names: list[str] = Field(default_factory=list)


class CharacterAcquired(EcoEvent):
    user_id: uuid.UUID
    character_id: uuid.UUID
    character_code: str
    character_name: str
    category: str
    source: str = "scan"
    scan_id: uuid.UUID | None = None


class CharacterAcquireFailed(EcoEvent):
    user_id: uuid.UUID
    scan_id: uuid.UUID
    reason: str
    character_names: list[str] = Field(default_factory=list)
    """For `already_owned`: the characters of the scan's category, all owned already."""


class ProfileUpdated(EcoEvent):
    """What changed a profile (`cause`: the event type behind it, with its details)."""

    user_id: uuid.UUID
    total_scans: int
    total_characters: int
    cause: str
    character_name: str | None = None
    changed: list[str] = Field(default_factory=list)


def new_event(payload: EcoEvent, type_: str) -> tuple[str, dict[str, Any], int]:
    """`(type, payload, version)` as `kernel.events.store.append` takes it."""
    return type_, payload.model_dump(mode="json"), payload.VERSION
