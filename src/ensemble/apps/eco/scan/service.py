"""Scans: the task a classify request starts, its classification by the `scan.classify` job,
and the scan side of the saga (the reward settled, or compensated, from the character
domain's answer). Every change appends to the scan's `eco.scan` stream in the same
transaction, numbered by `Scan.sequence`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco import events, repository
from ensemble.apps.eco.domain import Classification, disposal_guide
from ensemble.apps.eco.models import RewardStatus, Scan, ScanImage, ScanStatus
from ensemble.apps.eco.scan.classifier import Classifier, ScanInput
from ensemble.apps.eco.schemas import ClassifyRequest
from ensemble.apps.eco.tasks import classify_scan
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import Conflict, NotFound
from ensemble.kernel.events import Envelope, EventPayload

logger = logging.getLogger(__name__)

RECHECK_MIN = timedelta(milliseconds=250)
RECHECK_MAX = timedelta(seconds=10)
"""A scan waiting for its image looks again after half the time it has waited, within these:
soon at first (the image's event usually arrives within a fraction of a second of the
classify job, sometimes just after it), rarely later (16 looks in a minute)."""


def request_digest(body: ClassifyRequest) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _record(session: AsyncSession, scan: Scan, payload: EventPayload) -> None:
    """Append one event to the scan's stream (the row is locked or new: no other writer)."""
    scan.sequence = await events.publish(
        session, events.SCAN, scan.id, expected_sequence=scan.sequence, event=payload
    )


# Requesting


async def request(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    body: ClassifyRequest,
    idempotency_key: str | None,
) -> Scan:
    """A new scan task with its classification job requested, or, for an `Idempotency-Key`
    already used by the caller with the same body, that key's task (409 with another body).
    Concurrent requests with one key create one task."""
    digest = request_digest(body)
    now = utcnow()
    # The row is written already numbered 1 and returned as an entity: no reload and no
    # UPDATE of `sequence` after the append (which writes event 1 of this new stream, or
    # raises and rolls the whole transaction back).
    scan = await repository.scans.insert_once(
        session,
        {
            "id": new_id(),
            "user_id": user_id,
            "idempotency_key": idempotency_key,
            "request_digest": digest,
            "image_id": body.image_id,
            "image_url": str(body.image_url) if body.image_url else None,
            "user_input": body.user_input,
            "status": ScanStatus.PROCESSING,
            "sequence": 1,
            "created_at": now,
            "updated_at": now,
        },
    )
    if scan is None:
        return await _replay(session, user_id, idempotency_key, digest)
    requested = events.ScanRequested(
        scan_id=scan.id, user_id=user_id, image_id=body.image_id, has_text=bool(body.user_input)
    )
    await events.publish(session, events.SCAN, scan.id, expected_sequence=0, event=requested)
    await classify_scan.enqueue(session, scan_id=str(scan.id))
    return scan


async def _replay(
    session: AsyncSession, user_id: uuid.UUID, idempotency_key: str | None, digest: str
) -> Scan:
    scan = await repository.scans.by_idempotency_key(session, user_id, idempotency_key)
    if scan.request_digest != digest:
        raise Conflict(
            "This Idempotency-Key was used with another request.", code="idempotency_key_reused"
        )
    return scan


async def task_of(session: AsyncSession, user_id: uuid.UUID, scan_id: uuid.UUID) -> Scan:
    missing = NotFound("No such scan task.", code="task_not_found")
    return await repository.scans.get_or_404(
        session, scan_id, missing, visible=lambda scan: scan.user_id == user_id
    )


# Classifying (the job)


def next_look(created_at: datetime, now: datetime, wait: timedelta) -> datetime | None:
    """When a scan created at `created_at` should look for its image again, or None once it
    has waited `wait` (the last look is at the deadline itself)."""
    deadline = created_at + wait
    if now >= deadline:
        return None
    pause = min(max((now - created_at) / 2, RECHECK_MIN), RECHECK_MAX)
    return min(now + pause, deadline)


async def classify(
    session: AsyncSession, scan_id: uuid.UUID, classifier: Classifier, *, image_wait: timedelta
) -> datetime | None:
    """Classify a processing scan, then complete it (`ScanCompleted`) or fail it
    (`ScanFailed`); a scan no longer processing is left alone, so the job may run twice.

    A scan whose image has not reached this domain yet is not an error: the answer is when
    to look again; once it has waited `image_wait`, it fails (`image_not_found`)."""
    scan = await session.get(Scan, scan_id)
    if scan is None or scan.status is not ScanStatus.PROCESSING:
        return None
    image = await _image(session, scan)
    if scan.image_id is not None and image is None:
        again = next_look(scan.created_at, utcnow(), image_wait)
        if again is None:
            await _lock_and(
                session, scan_id, lambda locked: fail(session, locked, "image_not_found")
            )
        return again
    item = ScanInput(
        text=scan.user_input,
        image_url=image.url if image else scan.image_url,
        content_type=image.content_type if image else None,
    )
    result = await classifier.classify(item)  # outside the row lock: it may take seconds
    await _lock_and(session, scan_id, lambda locked: complete(session, locked, result))
    return None


async def _lock_and(session: AsyncSession, scan_id: uuid.UUID, change: Any) -> None:
    """Run `change(scan)` on the scan locked, if it is still processing."""
    scan = await session.get(Scan, scan_id, with_for_update=True, populate_existing=True)
    if scan is not None and scan.status is ScanStatus.PROCESSING:
        await change(scan)


async def _image(session: AsyncSession, scan: Scan) -> ScanImage | None:
    """The scan's image as this domain knows it (only the owner's image counts)."""
    if scan.image_id is None:
        return None
    image = await repository.scan_images.get(session, scan.image_id)
    return image if image is not None and image.user_id == scan.user_id else None


async def complete(session: AsyncSession, scan: Scan, result: Classification) -> None:
    scan.status, scan.completed_at = ScanStatus.COMPLETED, utcnow()
    scan.category, scan.confidence = result.category, result.confidence
    scan.disposal_guide = disposal_guide(result.category)
    eligible = result.reward_eligible
    scan.reward_status = RewardStatus.PENDING if eligible else RewardStatus.NOT_ELIGIBLE
    completed = events.ScanCompleted(
        scan_id=scan.id,
        user_id=scan.user_id,
        category=result.category,
        reward_eligible=eligible,
        confidence=result.confidence,
    )
    await _record(session, scan, completed)
    logger.info(
        "scan %s completed: %s (confidence %s, %s)",
        scan.id,
        result.category,
        result.confidence,
        "reward eligible" if eligible else "not eligible",
    )


async def fail(session: AsyncSession, scan: Scan, reason: str) -> None:
    scan.status, scan.completed_at, scan.error = ScanStatus.FAILED, utcnow(), reason
    failed = events.ScanFailed(scan_id=scan.id, user_id=scan.user_id, reason=reason)
    await _record(session, scan, failed)
    logger.info("scan %s failed: %s", scan.id, reason)


STALE_BATCH = 500
"""Stale scans failed per sweep."""


async def fail_stale(session: AsyncSession, older_than: timedelta) -> int:
    """Fail scans still processing after `older_than` (their job gave up or was lost), so
    every saga ends; returns how many."""
    stale = await repository.scans.lock_stale(session, older_than, STALE_BATCH)
    for scan in stale:
        await fail(session, scan, "timeout")
    return len(stale)


# The saga's scan side (consumers)


async def remember_image(session: AsyncSession, envelope: Envelope) -> None:
    """Keep this domain's copy of a registered image (`ImageRegistered`)."""
    image = envelope.payload_as(events.ImageRegistered)
    await repository.remember_image(
        session,
        {
            "image_id": image.image_id,
            "user_id": image.user_id,
            "url": image.url,
            "content_type": image.content_type,
            "registered_at": envelope.occurred_at,
        },
    )


async def settle_reward(session: AsyncSession, envelope: Envelope) -> str:
    """The character domain's answer to a completed scan: the reward granted
    (`ScanRewardGranted`), or compensated (`ScanRewardCompensated`). Returns what happened."""
    answer: events.CharacterAcquired | events.CharacterAcquireFailed
    if envelope.type == events.CharacterAcquired.TYPE:
        answer = envelope.payload_as(events.CharacterAcquired)
    else:
        answer = envelope.payload_as(events.CharacterAcquireFailed)
    if answer.scan_id is None:
        return "not_from_a_scan"
    scan = await _pending_reward(session, answer.scan_id)
    if scan is None:
        return "already_settled"
    settled: EventPayload
    if isinstance(answer, events.CharacterAcquired):
        scan.reward_status = RewardStatus.GRANTED
        scan.reward_character = {
            "character_id": str(answer.character_id),
            "code": answer.character_code,
            "name": answer.character_name,
        }
        settled = events.ScanRewardGranted(
            scan_id=scan.id,
            user_id=scan.user_id,
            character_id=answer.character_id,
            character_code=answer.character_code,
            character_name=answer.character_name,
        )
        outcome = "granted"
    else:
        scan.reward_status, scan.reward_reason = RewardStatus.FAILED, answer.reason
        settled = events.ScanRewardCompensated(
            scan_id=scan.id,
            user_id=scan.user_id,
            compensation_reason=answer.reason,
            character_names=answer.character_names,
        )
        outcome = "compensated"
    await _record(session, scan, settled)
    return outcome


async def _pending_reward(session: AsyncSession, scan_id: uuid.UUID) -> Scan | None:
    scan = await session.get(Scan, scan_id, with_for_update=True)
    if scan is None or scan.reward_status is not RewardStatus.PENDING:
        return None
    return scan
