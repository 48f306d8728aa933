"""Leaderboards on Redis sorted sets (score: net coin winnings, see `domain`): kept by each
hand after its commit (`record_hand`), read with the caller's rank and neighbours, and
rebuilt from `casino.hands` (the source of truth) when Redis lost or missed something."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.domain import COINS, GameType, Period, period_end, period_start
from ensemble.apps.casino.leaderboards.domain import (
    KEPT,
    SEEN_PREFIX,
    SEEN_SECONDS,
    board_key,
    boards_of,
    counts,
)
from ensemble.apps.casino.models import Hand, User
from ensemble.kernel.db import after_commit
from ensemble.kernel.events.envelope import as_text

_COUNT_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
    for i = 2, #KEYS do
        redis.call('ZINCRBY', KEYS[i], ARGV[2], ARGV[3])
        local ttl = tonumber(ARGV[i + 2])
        if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
    end
    return 1
end
return 0
"""
"""Count a hand on its boards unless it was counted (atomic: two calls, one count)."""


async def record_hand(redis: Redis, hand: Hand) -> bool:
    """Count a committed hand on its boards, once (whether this call counted it). The games
    call it after their commit (`record_after_commit`); a hand it missed (a crash between
    the commit and this call) is counted by the next rebuild."""
    if not counts(hand.currency):
        return False
    boards = boards_of(hand.game_type, hand.played_at)
    keys = [f"{SEEN_PREFIX}:{hand.id}", *(key for key, _ in boards)]
    ttls = [str(ttl) for _, ttl in boards]
    counted = await redis.eval(
        _COUNT_ONCE, len(keys), *keys, str(SEEN_SECONDS), str(hand.net), str(hand.user_id), *ttls
    )
    return bool(counted)


def record_after_commit(session: AsyncSession, redis: Redis, hand: Hand) -> None:
    """Count `hand` on the boards once the session's transaction commits (never if it rolls
    back): what a game calls after adding its hand."""

    async def count() -> None:
        await record_hand(redis, hand)

    after_commit(session, count)


# reading


@dataclass(frozen=True)
class Standing:
    rank: int
    """1 for the top; members of equal score are ordered by id."""
    user_id: uuid.UUID
    score: int


@dataclass(frozen=True)
class Board:
    key: str
    period_start: datetime | None
    top: list[Standing]
    me: Standing | None
    """The caller's standing (None: no coin hand in the period)."""
    around: list[Standing] | None
    """The caller and neighbours (asked with `around_me`; empty when not on the board)."""


async def _range(redis: Redis, key: str, first: int, count: int) -> list[Standing]:
    """`count` standings of a board from position `first` (0 for the top), best first."""
    rows = cast(
        "list[tuple[bytes | str, float]]",
        await redis.zrevrange(key, first, first + count - 1, withscores=True),
    )
    return [
        Standing(first + n + 1, uuid.UUID(as_text(member)), int(score))
        for n, (member, score) in enumerate(rows)
    ]


async def board(
    redis: Redis,
    game_type: GameType | None,
    period: Period,
    now: datetime,
    *,
    limit: int,
    user_id: uuid.UUID,
    around_me: bool = False,
) -> Board:
    """The top `limit` of a board, the caller's standing and, with `around_me`, `limit`
    standings centred on the caller's."""
    key = board_key(game_type, period, now)
    top = await _range(redis, key, 0, limit)
    position = cast("int | None", await redis.zrevrank(key, str(user_id)))
    me = None
    if position is not None:
        score = await redis.zscore(key, str(user_id))
        me = Standing(position + 1, user_id, int(score or 0))
    around = None
    if around_me:
        around = []
        if position is not None:
            around = await _range(redis, key, max(0, position - limit // 2), limit)
    return Board(key, period_start(period, now), top, me, around)


async def nicknames(session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    rows = await session.execute(
        select(User.account_id, User.nickname).where(User.account_id.in_(user_ids))
    )
    return {row.account_id: row.nickname for row in rows}


# rebuilding


async def rebuild(
    session: AsyncSession,
    redis: Redis,
    game_type: GameType | None,
    period: Period,
    at: datetime,
) -> int:
    """Replace the board holding `at` with the sums of `casino.hands` (how many members it
    ranks). The new board is written aside and renamed over the old one in one step, so
    readers see the old or the new board, never half of one."""
    start = period_start(period, at)
    query = (
        select(Hand.user_id, func.sum(Hand.payout - Hand.bet))
        .where(Hand.currency == COINS)
        .group_by(Hand.user_id)
    )
    if game_type is not None:
        query = query.where(Hand.game_type == game_type)
    if start is not None:
        end = period_end(period, start)
        query = query.where(Hand.played_at >= start)
        if end is not None:
            query = query.where(Hand.played_at < end)
    scores = {str(user_id): int(total) for user_id, total in await session.execute(query)}
    key = board_key(game_type, period, at)
    if not scores:
        await redis.delete(key)
        return 0
    building = f"{key}:rebuilding:{uuid.uuid4().hex}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(building, scores)
        pipe.rename(building, key)
        if period in KEPT:
            pipe.expire(key, int(KEPT[period].total_seconds()))
        await pipe.execute()
    return len(scores)


async def rebuild_all(session: AsyncSession, redis: Redis, at: datetime) -> dict[str, int]:
    """Rebuild the current board of every game and period (key → members ranked)."""
    rebuilt = {}
    for game_type in (None, *GameType):
        for period in Period:
            count = await rebuild(session, redis, game_type, period, at)
            rebuilt[board_key(game_type, period, at)] = count
    return rebuilt
