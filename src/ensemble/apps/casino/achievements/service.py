"""Achievements use cases: moving members' progress from their actions, unlocking and
rewarding each entry once, and reading a member's standing. Never commit.

Once, whatever the delivery: the kernel's consumer handles an event once (its
`processed_events` row); two events of one member handled at once serialise on the
member's progress rows (the upsert locks them, in catalogue order, so no deadlock); the
unlock is one `UPDATE … WHERE unlocked_at IS NULL`, which only one transaction can match;
and the reward's ledger key `achievement:<key>` would turn a second payment into a replay."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.achievements.domain import (
    CATALOGUE,
    Achievement,
    HandMetric,
    moved_by,
)
from ensemble.apps.casino.achievements.models import AchievementProgress
from ensemble.apps.casino.auth import REALM
from ensemble.apps.casino.domain import COINS
from ensemble.apps.casino.models import Hand
from ensemble.apps.casino.notifications import messages
from ensemble.kernel.db import utcnow
from ensemble.kernel.ledger import service as ledger

REWARD_REASON = "achievement"
"""The ledger reason of an achievement's reward."""


async def hand_metrics(session: AsyncSession, user_id: uuid.UUID) -> Mapping[HandMetric, int]:
    """A member's hand metrics over all games and all time."""
    won = Hand.payout > Hand.bet
    played, wins, best = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(won),
                func.coalesce(
                    func.max(Hand.payout - Hand.bet).filter(won, Hand.currency == COINS), 0
                ),
            ).where(Hand.user_id == user_id)
        )
    ).one()
    return {HandMetric.HANDS_PLAYED: played, HandMetric.WINS: wins, HandMetric.BEST_WIN: int(best)}


async def _move(
    session: AsyncSession,
    user_id: uuid.UUID,
    entry: Achievement,
    metrics: Mapping[HandMetric, int],
    now: datetime,
) -> AchievementProgress:
    """Count one more action toward `entry`, or set its hand metric's value (never lower);
    the row as it is now (locked until the transaction ends)."""
    table = AchievementProgress
    if entry.hand_metric is None:
        value, moved = 1, table.progress + 1
    else:
        value = metrics[entry.hand_metric]
        moved = func.greatest(table.progress, value)
    statement = insert(table).values(user_id=user_id, key=entry.key, progress=value, updated_at=now)
    row: AchievementProgress | None = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=[table.user_id, table.key], set_={"progress": moved, "updated_at": now}
        ).returning(table),
        execution_options={"populate_existing": True},
    )
    assert row is not None
    return row


async def _unlock(
    session: AsyncSession, user_id: uuid.UUID, entry: Achievement, now: datetime
) -> bool:
    """Unlock and reward `entry` unless it is unlocked; whether this call did."""
    unlocked = await session.scalar(
        update(AchievementProgress)
        .where(
            AchievementProgress.user_id == user_id,
            AchievementProgress.key == entry.key,
            AchievementProgress.unlocked_at.is_(None),
        )
        .values(unlocked_at=now)
        .returning(AchievementProgress.key)
    )
    if unlocked is None:
        return False
    if entry.reward_coins:
        coins = await ledger.open_account(session, realm=REALM, owner_id=user_id, currency=COINS)
        await ledger.earn(
            session,
            account_id=coins.id,
            amount=entry.reward_coins,
            reason=REWARD_REASON,
            idempotency_key=entry.reward_key,
        )
    await messages.achievement_unlocked(session, user_id, entry)
    return True


async def advance(session: AsyncSession, user_id: uuid.UUID, action_type: str) -> list[str]:
    """Move the member's progress for an action of `action_type`, unlock (and reward) what it
    reached; the keys this call unlocked. Most actions move nothing and read nothing."""
    entries = moved_by(action_type)
    if not entries:
        return []
    now = utcnow()
    needs_hands = any(each.hand_metric is not None for each in entries)
    metrics = await hand_metrics(session, user_id) if needs_hands else {}
    done = []
    for entry in entries:
        row = await _move(session, user_id, entry, metrics, now)
        reached = row.unlocked_at is None and row.progress >= entry.target
        if reached and await _unlock(session, user_id, entry, now):
            done.append(entry.key)
    return done


# reading


@dataclass(frozen=True)
class Standing:
    """A catalogue entry for a member: how far they are (capped at the target) and when
    they unlocked it."""

    achievement: Achievement
    progress: int
    unlocked_at: datetime | None


async def standings(session: AsyncSession, user_id: uuid.UUID) -> list[Standing]:
    """The whole catalogue for a member, in catalogue order."""
    rows = {
        row.key: row
        for row in await session.scalars(
            select(AchievementProgress).where(AchievementProgress.user_id == user_id)
        )
    }
    return [
        Standing(
            each,
            min(rows[each.key].progress, each.target) if each.key in rows else 0,
            rows[each.key].unlocked_at if each.key in rows else None,
        )
        for each in CATALOGUE
    ]


async def unlocked_keys(session: AsyncSession, user_id: uuid.UUID) -> Sequence[str]:
    """The keys of the member's unlocked achievements, oldest unlock first."""
    rows = await session.scalars(
        select(AchievementProgress.key)
        .where(AchievementProgress.user_id == user_id, AchievementProgress.unlocked_at.is_not(None))
        .order_by(AchievementProgress.unlocked_at, AchievementProgress.key)
    )
    return rows.all()
