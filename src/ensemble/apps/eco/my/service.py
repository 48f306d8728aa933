"""My: the profile with the stats the saga keeps (`ProfileUpdated` on the `eco.profile`
stream), and the notifications the saga sends (stored once per source event, then pushed
to the user's WebSocket channel by a job after commit)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco import events, repository
from ensemble.apps.eco.models import Notification, Profile
from ensemble.apps.eco.tasks import push
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.events import Envelope
from ensemble.kernel.pagination import Page, PageRequest


def notification_channel(user_id: uuid.UUID | str) -> str:
    return f"eco:user:{user_id}"


# Profile


async def profile(session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False) -> Profile:
    """The user's profile, created empty on first use."""
    return await repository.profile(session, user_id, utcnow(), lock=lock)


async def rename(session: AsyncSession, user_id: uuid.UUID, nickname: str) -> Profile:
    found = await profile(session, user_id, lock=True)
    found.nickname = nickname
    await _updated(session, found, cause="ProfileEdited", changed=["nickname"])
    await session.flush()
    return found


async def count_activity(session: AsyncSession, envelope: Envelope) -> str:
    """Stats from the saga: a completed scan, an acquired character (once per event: the
    consumer's idempotency guards the counters)."""
    user_id = uuid.UUID(str(envelope.payload["user_id"]))
    found = await profile(session, user_id, lock=True)
    found.last_activity_at = max(filter(None, [found.last_activity_at, envelope.occurred_at]))
    character_name = None
    if envelope.type == events.ScanCompleted.TYPE:
        found.total_scans += 1
        changed = ["total_scans", "last_activity_at"]
    else:
        found.total_characters += 1
        character_name = envelope.payload_as(events.CharacterAcquired).character_name
        changed = ["total_characters", "last_activity_at"]
    await _updated(
        session, found, cause=envelope.type, changed=changed, character_name=character_name
    )
    return envelope.type


async def _updated(
    session: AsyncSession,
    found: Profile,
    *,
    cause: str,
    changed: list[str],
    character_name: str | None = None,
) -> None:
    updated = events.ProfileUpdated(
        user_id=found.user_id,
        total_scans=found.total_scans,
        total_characters=found.total_characters,
        cause=cause,
        character_name=character_name,
        changed=changed,
    )
    found.sequence = await events.publish(
        session, events.PROFILE, found.user_id, expected_sequence=found.sequence, event=updated
    )


# Notifications


@dataclass(frozen=True)
class Message:
    kind: str
    title: str
    body: str


REFUSED = {
    "max_characters_reached": (
        "캐릭터 보관함이 가득 찼어요. Your character collection is full, so no new character "
        "this time."
    ),
    "no_character_for_category": "이 품목에는 아직 캐릭터가 없어요. There is no character for "
    "this kind of waste yet.",
}
SCAN_FAILED = {
    "image_not_found": "사진을 찾지 못했어요. 다시 올려 주세요. We could not find your photo; "
    "please upload it again.",
    "timeout": "분류가 너무 오래 걸렸어요. 다시 시도해 주세요. Classifying took too long; "
    "please try again.",
}
REFUSED_OTHERWISE = (
    "이번에는 캐릭터를 드리지 못했어요. We could not give you a character this time."
)
SCAN_FAILED_OTHERWISE = (
    "분류하지 못했어요. 다시 시도해 주세요. We could not classify it; please try again."
)
"""What the user reads for each reason code (the code itself stays in `data`)."""


def refusal_text(reason: str, character_names: list[str]) -> str:
    if reason == "already_owned":
        owned = ", ".join(character_names) or "이 품목의 모든 캐릭터, every character for it"
        return f"이미 가지고 있어요: {owned}. You already have {owned}."
    return REFUSED.get(reason, REFUSED_OTHERWISE)


def message_for(envelope: Envelope) -> Message | None:
    """What the user is told about an event, if anything: plain words, no internal codes."""
    if envelope.type == events.ProfileUpdated.TYPE:
        updated = envelope.payload_as(events.ProfileUpdated)
        if updated.cause != events.CharacterAcquired.TYPE:
            return None
        return Message(
            "character_acquired",
            "새 캐릭터를 만났어요! / New character!",
            f"{updated.character_name} 캐릭터를 획득했어요. "
            f"You now have {updated.total_characters}.",
        )
    if envelope.type == events.ScanRewardCompensated.TYPE:
        refused = envelope.payload_as(events.ScanRewardCompensated)
        return Message(
            "reward_failed",
            "보상을 받지 못했어요 / No reward this time",
            "분리배출은 잘 기록되었어요. Your recycling was recorded. "
            + refusal_text(refused.compensation_reason, refused.character_names),
        )
    if envelope.type == events.ScanFailed.TYPE:
        reason = envelope.payload_as(events.ScanFailed).reason
        text = SCAN_FAILED.get(reason, SCAN_FAILED_OTHERWISE)
        return Message("scan_failed", "분류에 실패했어요 / Scan failed", text)
    return None


async def notify(session: AsyncSession, envelope: Envelope) -> str:
    """Store the user's notification for `envelope` (once) and push it after commit."""
    message = message_for(envelope)
    if message is None:
        return "silent"
    user_id = uuid.UUID(str(envelope.payload["user_id"]))
    data = {key: value for key, value in envelope.payload.items() if key != "user_id"}
    notification = await repository.notifications.insert_once(
        session,
        {
            "id": new_id(),
            "user_id": user_id,
            "kind": message.kind,
            "title": message.title,
            "body": message.body,
            "data": {**data, "event": envelope.type},
            "source_event_id": envelope.event_id,
            "created_at": utcnow(),
        },
    )
    if notification is None:
        return "duplicate"
    await push.enqueue(session, user_id=str(user_id), payload=push_payload(notification))
    return message.kind


def push_payload(notification: Notification) -> dict[str, object]:
    return {
        "type": "notification",
        "notification_id": str(notification.id),
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "created_at": notification.created_at.isoformat(),
    }


async def notifications(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> Page[Notification]:
    """The user's notifications, newest first."""
    return await repository.notifications.page_of(session, user_id, page)
