"""The events ECO² publishes and consumes: aggregate types (one stream each) and the
versioned payloads, each naming its event type on the wire.

Every ECO² event is appended to the kernel event store and published through the outbox in
the transaction of the change it describes (`publish`, below), so the read
models can be rebuilt from the store. Payloads only ever gain optional fields: a consumer
reads every older version (see `kernel.events.envelope`).
"""

from __future__ import annotations

import uuid

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.kernel.events import EventPayload
from ensemble.kernel.events.store import Aggregate, append

# Aggregate types: the stream `events:<type>`; the aggregate id is the partition key.
IMAGE = "eco.image"  # id: image id
SCAN = "eco.scan"  # id: scan (task) id
CHARACTER = "eco.character"  # id: user id (CharacterOwnership)
PROFILE = "eco.profile"  # id: user id


async def publish(
    session: AsyncSession,
    aggregate_type: str,
    aggregate_id: uuid.UUID,
    *,
    expected_sequence: int,
    event: EventPayload,
    aggregate: Aggregate | None = None,
) -> int:
    """Append `event` to the stream of `aggregate_id` and publish it through the outbox, as
    every ECO² event is (`store.append`, whose conflicts it raises); returns the stream's new
    last sequence."""
    return await append(
        session,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        expected_sequence=expected_sequence,
        events=[event],
        aggregate=aggregate,
        publish=True,
    )


class ImageRegistered(EventPayload, type="ImageRegistered"):
    image_id: uuid.UUID
    user_id: uuid.UUID
    url: str
    content_type: str | None = None


class ScanRequested(EventPayload, type="ScanRequested"):
    scan_id: uuid.UUID
    user_id: uuid.UUID
    image_id: uuid.UUID | None = None
    has_text: bool = False


class ScanCompleted(EventPayload, type="ScanCompleted", version=2):
    """Version 2 added `confidence` (absent from version 1 events)."""

    scan_id: uuid.UUID
    user_id: uuid.UUID
    category: str
    reward_eligible: bool
    confidence: float | None = None


class ScanFailed(EventPayload, type="ScanFailed"):
    scan_id: uuid.UUID
    user_id: uuid.UUID
    reason: str


class ScanRewardGranted(EventPayload, type="ScanRewardGranted"):
    scan_id: uuid.UUID
    user_id: uuid.UUID
    character_id: uuid.UUID
    character_code: str
    character_name: str


class ScanRewardCompensated(EventPayload, type="ScanRewardCompensated"):
    scan_id: uuid.UUID
    user_id: uuid.UUID
    compensation_reason: str
    character_names: list[str] = Field(default_factory=list)


class CharacterAcquired(EventPayload, type="CharacterAcquired"):
    user_id: uuid.UUID
    character_id: uuid.UUID
    character_code: str
    character_name: str
    category: str
    source: str = "scan"
    scan_id: uuid.UUID | None = None


class CharacterAcquireFailed(EventPayload, type="CharacterAcquireFailed"):
    user_id: uuid.UUID
    scan_id: uuid.UUID
    reason: str
    character_names: list[str] = Field(default_factory=list)
    """For `already_owned`: the characters of the scan's category, all owned already."""


class ProfileUpdated(EventPayload, type="ProfileUpdated"):
    """What changed a profile (`cause`: the event type behind it, with its details)."""

    user_id: uuid.UUID
    total_scans: int
    total_characters: int
    cause: str
    character_name: str | None = None
    changed: list[str] = Field(default_factory=list)
