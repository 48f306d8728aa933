"""Characters: the catalogue, the event-sourced `CharacterOwnership` of each user (stream
`eco.character`, id = user id), the reward decided for a completed scan, and the reads:
owned (read model, from the store on a miss), owned at an instant (replay), weekly ranking.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.eco import events, read_models, repository
from ensemble.apps.eco.domain import (
    CatalogueEntry,
    CharacterOwnership,
    Grant,
    Refusal,
    week_key,
)
from ensemble.apps.eco.models import Character
from ensemble.apps.eco.schemas import OwnedCharacter, Ranking, RankingEntry
from ensemble.kernel.db import utcnow
from ensemble.kernel.events import Envelope
from ensemble.kernel.events.store import ConcurrencyConflict, load

GRANT_ATTEMPTS = 5


async def catalogue(session: AsyncSession) -> Sequence[Character]:
    return await repository.character_catalogue(session)


def _entry(character: Character) -> CatalogueEntry:
    return CatalogueEntry(
        id=str(character.id),
        code=character.code,
        name=character.name,
        category=character.category,
        rarity=character.rarity,
    )


async def load_ownership(
    session: AsyncSession, user_id: uuid.UUID, at: datetime | None = None
) -> tuple[CharacterOwnership, int]:
    return await load(session, CharacterOwnership, events.CHARACTER, str(user_id), at=at)


# The saga's character side (consumer of ScanCompleted)


async def reward_scan(session: AsyncSession, envelope: Envelope, max_characters: int) -> str:
    """Grant a character for an eligible completed scan (`CharacterAcquired`), or say why not
    (`CharacterAcquireFailed`); once per scan. Returns what happened.

    A concurrent writer of the same ownership makes the append conflict: reload and decide
    again (a refused append writes nothing, so the transaction is still usable).
    """
    completed = envelope.payload_as(events.ScanCompleted)
    if not completed.reward_eligible:
        return "not_eligible"
    entries = [_entry(character) for character in await catalogue(session)]
    for _ in range(GRANT_ATTEMPTS):
        ownership, sequence = await load_ownership(session, completed.user_id)
        if ownership.has_decided(str(completed.scan_id)):
            return "already_decided"
        decision = ownership.decide(completed.category, entries, max_characters)
        event = _decision_event(completed, decision)
        try:
            await events.publish(
                session,
                events.CHARACTER,
                completed.user_id,
                expected_sequence=sequence,
                event=event,
                aggregate=ownership,
            )
        except ConcurrencyConflict:
            continue
        return "acquired" if isinstance(decision, Grant) else f"failed:{decision.reason}"
    raise RuntimeError(f"ownership of {completed.user_id} kept changing; retrying later")


def _decision_event(
    completed: events.ScanCompleted, decision: Grant | Refusal
) -> events.CharacterAcquired | events.CharacterAcquireFailed:
    if isinstance(decision, Grant):
        character = decision.character
        return events.CharacterAcquired(
            user_id=completed.user_id,
            character_id=uuid.UUID(character.id),
            character_code=character.code,
            character_name=character.name,
            category=character.category,
            scan_id=completed.scan_id,
        )
    return events.CharacterAcquireFailed(
        user_id=completed.user_id,
        scan_id=completed.scan_id,
        reason=decision.reason,
        character_names=list(decision.characters),
    )


# Reads


def owned_items(ownership: CharacterOwnership) -> list[OwnedCharacter]:
    return sorted(
        (OwnedCharacter.model_validate(item) for item in ownership.owned.values()),
        key=lambda item: (item.acquired_at, item.code),
    )


async def owned(session: AsyncSession, redis: Redis, user_id: uuid.UUID) -> list[OwnedCharacter]:
    """From the read model; on a miss, from the event store, and the read model is filled."""
    cached = await read_models.owned_characters(redis, user_id)
    if cached is not None:
        return cached
    ownership, _ = await load_ownership(session, user_id)
    items = owned_items(ownership)
    await read_models.fill_owned(redis, user_id, items)
    return items


async def owned_at(session: AsyncSession, user_id: uuid.UUID, at: datetime) -> list[OwnedCharacter]:
    """Ownership as it was at `at`, replayed from the store."""
    ownership, _ = await load_ownership(session, user_id, at=at)
    return owned_items(ownership)


async def weekly_ranking(redis: Redis, user_id: uuid.UUID, limit: int) -> Ranking:
    key = week_key(utcnow())
    rows = await read_models.weekly_top(redis, key, limit)
    return Ranking(
        period="weekly",
        key=key,
        items=[
            RankingEntry(rank=rank, user_id=member, characters=score, me=member == user_id)
            for rank, (member, score) in enumerate(rows, start=1)
        ],
    )
