"""Achievements: the caller's progress, and unlocking what a user's events earned, once
(a unique row per user and code; `AchievementUnlocked` published with each). Never commit."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.focus.achievements import repository
from ensemble.apps.focus.achievements.domain import Achievement, Metric, Progress, catalogue
from ensemble.apps.focus.events import AGGREGATE_USER, AchievementUnlocked
from ensemble.apps.focus.stats import service as stats
from ensemble.kernel.db import utcnow
from ensemble.kernel.events import Envelope, publish


@dataclass(frozen=True)
class Standing(Achievement):
    """A catalogue entry for a user: how far they are, and when they unlocked it if so."""

    progress: int
    unlocked_at: datetime | None


@dataclass(frozen=True)
class Mine:
    unlocked: list[Standing]
    """Oldest unlock first."""
    locked: list[Standing]
    """In catalogue order."""


async def progress_of(session: AsyncSession, user_id: uuid.UUID) -> Progress:
    """The user's value of every metric, local hours and days in their settings' zone."""
    zone = await stats.zone_of(session, user_id, None)
    completed, seconds, night, early = await repository.session_counts(session, user_id, zone.key)
    _, longest = await stats.streaks(session, user_id, zone, utcnow().astimezone(zone).date())
    return {
        Metric.COMPLETED_SESSIONS: completed,
        Metric.FOCUS_MINUTES: seconds // 60,
        Metric.LONGEST_STREAK: longest,
        Metric.NIGHT_SESSIONS: night,
        Metric.EARLY_SESSIONS: early,
        Metric.ROOMS_HOSTED: await repository.rooms_hosted(session, user_id),
    }


async def mine(session: AsyncSession, user_id: uuid.UUID) -> Mine:
    """The user's unlocked achievements, and their progress toward the others."""
    unlocks = {
        each.code: each.unlocked_at for each in await repository.unlocks_of(session, user_id)
    }
    progress = await progress_of(session, user_id)
    every = [
        Standing(**asdict(each), progress=each.so_far(progress), unlocked_at=unlocks.get(each.code))
        for each in catalogue()
    ]
    unlocked = [each for each in every if each.unlocked_at is not None]
    unlocked.sort(key=lambda each: (each.unlocked_at, each.code))
    return Mine(unlocked, [each for each in every if each.unlocked_at is None])


async def unlock_reached(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """Unlock every achievement the user has reached and not unlocked yet, each once, and
    publish `AchievementUnlocked` for each; the codes this call unlocked."""
    await repository.lock_progress(session, user_id)
    unlocked = {each.code for each in await repository.unlocks_of(session, user_id)}
    locked = [each for each in catalogue() if each.code not in unlocked]
    if not locked:
        return []
    progress = await progress_of(session, user_id)
    now = utcnow()
    done = []
    for each in locked:
        if each.reached(progress) and await repository.unlock(session, user_id, each.code, now):
            payload = AchievementUnlocked(
                user_id=user_id, code=each.code, name=each.name, unlocked_at=now
            )
            await publish(
                session,
                Envelope.of(payload, aggregate_type=AGGREGATE_USER, aggregate_id=str(user_id)),
            )
            done.append(each.code)
    return done


async def count_hosted_room(
    session: AsyncSession, user_id: uuid.UUID, room_id: uuid.UUID, created_at: datetime
) -> list[str]:
    """A room the user created (counted once), and what it unlocked."""
    await repository.lock_progress(session, user_id)
    await repository.add_hosted_room(session, user_id, room_id, created_at)
    return await unlock_reached(session, user_id)
