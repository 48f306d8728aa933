"""Game sessions (start, end, the open one) and a member's play stats from `casino.hands`
and the sessions. Never commit.

A second start while a session is open: at the same game it answers the open session (a
client re-sending its start loses nothing); at another game it ends the open one and starts
the new one (a member plays one game at a time)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, Subquery, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.actions.service import record_action
from ensemble.apps.casino.domain import COINS, GameType, Period, period_start
from ensemble.apps.casino.models import Hand
from ensemble.apps.casino.sessions.models import GameSession
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import NotFound

OPEN = GameSession.ended_at.is_(None)


class NoOpenSession(NotFound):
    code = "no_open_session"
    message = "You have no open game session."


async def current(session: AsyncSession, user_id: uuid.UUID) -> GameSession:
    """The member's open game session (404 `no_open_session`)."""
    found = await session.scalar(select(GameSession).where(GameSession.user_id == user_id, OPEN))
    if found is None:
        raise NoOpenSession()
    return found


async def start(
    session: AsyncSession, user_id: uuid.UUID, game_type: GameType
) -> tuple[GameSession, bool]:
    """Start a session at `game_type`: (the session, whether it is new). See the module doc
    for a start while one is open. Concurrent starts of one member leave one open session:
    the open row is locked, and the partial unique index stops a second insert, whose
    caller then reads the winner's session."""
    while True:
        now = utcnow()
        open_now = await session.scalar(
            select(GameSession).where(GameSession.user_id == user_id, OPEN).with_for_update()
        )
        if open_now is not None and open_now.game_type == game_type:
            return open_now, False
        if open_now is not None:
            await _close(session, open_now, now)
        started = await session.scalar(
            insert(GameSession)
            .values(id=new_id(), user_id=user_id, game_type=game_type, started_at=now)
            .on_conflict_do_nothing(index_elements=["user_id"], index_where=OPEN)
            .returning(GameSession)
        )
        if started is not None:
            await record_action(
                session,
                user_id,
                "SESSION_START",
                {"session_id": str(started.id), "game_type": game_type.value},
            )
            return started, True


async def end(session: AsyncSession, user_id: uuid.UUID) -> GameSession:
    """End the member's open session (404 `no_open_session`)."""
    open_now = await session.scalar(
        select(GameSession).where(GameSession.user_id == user_id, OPEN).with_for_update()
    )
    if open_now is None:
        raise NoOpenSession()
    await _close(session, open_now, utcnow())
    return open_now


async def _close(session: AsyncSession, game: GameSession, now: datetime) -> None:
    await session.execute(update(GameSession).where(GameSession.id == game.id).values(ended_at=now))
    game.ended_at = now
    await record_action(
        session,
        game.user_id,
        "SESSION_END",
        {
            "session_id": str(game.id),
            "game_type": game.game_type.value,
            "play_seconds": play_seconds(game, now),
        },
    )


def play_seconds(game: GameSession, now: datetime) -> int:
    """How long a session lasted (so far, while open)."""
    return int(((game.ended_at or now) - game.started_at).total_seconds())


# stats


@dataclass(frozen=True)
class Stats:
    """A member's play in a period (at one game, or all). Net result and best win count
    hands played with coins (a gacha paid in gems has no coin result); a win is a hand that
    paid more than it cost."""

    games_played: int
    wins: int
    net_result: int
    best_win: int
    longest_win_streak: int
    favourite_game: GameType | None
    play_seconds: int

    @property
    def win_rate(self) -> float:
        return round(self.wins / self.games_played, 4) if self.games_played else 0.0


def _hands(user_id: uuid.UUID, game_type: GameType | None, since: datetime | None) -> Select[Hand]:
    query = select(Hand).where(Hand.user_id == user_id)
    if game_type is not None:
        query = query.where(Hand.game_type == game_type)
    if since is not None:
        query = query.where(Hand.played_at >= since)
    return query


async def stats(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    game_type: GameType | None = None,
    period: Period = Period.ALL,
    now: datetime | None = None,
) -> Stats:
    """The member's stats in the current `period` (UTC), at `game_type` or all games."""
    now = now or utcnow()
    since = period_start(period, now)
    hands = _hands(user_id, game_type, since).subquery()
    won = hands.c.payout > hands.c.bet
    coins = hands.c.currency == COINS
    totals = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(won),
                func.coalesce(func.sum(hands.c.payout - hands.c.bet).filter(coins), 0),
                func.coalesce(func.max(hands.c.payout - hands.c.bet).filter(won, coins), 0),
            ).select_from(hands)
        )
    ).one()
    favourite = await session.scalar(
        select(hands.c.game_type)
        .group_by(hands.c.game_type)
        .order_by(func.count().desc(), hands.c.game_type)
        .limit(1)
    )
    return Stats(
        games_played=totals[0],
        wins=totals[1],
        net_result=int(totals[2]),
        best_win=int(totals[3]),
        longest_win_streak=await _longest_win_streak(session, hands),
        favourite_game=favourite,
        play_seconds=await seconds_played(session, user_id, game_type, since, now),
    )


async def _longest_win_streak(session: AsyncSession, hands: Subquery) -> int:
    """The most wins in a row among the hands, in play order (gaps and islands: within a
    run of wins, the row number minus the row number among wins is constant)."""
    order = (hands.c.played_at, hands.c.id)
    won = hands.c.payout > hands.c.bet
    runs = select(
        won.label("won"),
        (
            func.row_number().over(order_by=order)
            - func.row_number().over(partition_by=won, order_by=order)
        ).label("run"),
    ).subquery()
    lengths = select(func.count().label("length")).where(runs.c.won).group_by(runs.c.run).subquery()
    longest = await session.scalar(select(func.coalesce(func.max(lengths.c.length), 0)))
    return int(longest or 0)


async def seconds_played(
    session: AsyncSession,
    user_id: uuid.UUID,
    game_type: GameType | None,
    since: datetime | None,
    now: datetime,
) -> int:
    """Seconds of sessions within the period (an open one counts until now; one begun before
    the period counts from its start)."""
    ended = func.coalesce(GameSession.ended_at, literal(now))
    begun = (
        GameSession.started_at if since is None else func.greatest(GameSession.started_at, since)
    )
    query = select(func.coalesce(func.sum(func.extract("epoch", ended - begun)), 0)).where(
        GameSession.user_id == user_id
    )
    if game_type is not None:
        query = query.where(GameSession.game_type == game_type)
    if since is not None:
        query = query.where(or_(OPEN, GameSession.ended_at > since))
    return int(await session.scalar(query) or 0)
