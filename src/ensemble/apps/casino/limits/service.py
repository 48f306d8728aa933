"""Responsible play (B2): limits and their changes, cool-off and self-exclusion, the charge
every bet, pull and purchase goes through (`charge_play`, in the play's transaction), and
reality checks (`reality_check`, from `fairness.service.add_hand`). Never commit.

A member's charges queue on their `play_guards` row (`SELECT … FOR UPDATE`): the check
against the tallies and the tally's update happen under that lock, so concurrent bets and
purchases never pass a limit together. A refusal raises before anything is counted."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.domain import NotificationCategory
from ensemble.apps.casino.limits import domain
from ensemble.apps.casino.limits.domain import (
    SPANS,
    LimitKey,
    LimitKind,
    LimitPeriod,
    LimitState,
    PlayDays,
)
from ensemble.apps.casino.limits.models import PlayDay, PlayGuard, PlayLimit, RealityCheck
from ensemble.apps.casino.models import Hand, User
from ensemble.apps.casino.notifications.service import notify
from ensemble.apps.casino.sessions import service as game_sessions
from ensemble.apps.casino.sessions.models import GameSession
from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.errors import Conflict, Forbidden, InvalidInput


class LimitReached(Conflict):
    code = "limit_reached"
    message = "This would go past one of your responsible-play limits."


class SelfExcluded(Forbidden):
    code = "self_excluded"
    message = "You are self-excluded: no bets, pulls or purchases until it ends."


class CoolingOff(Forbidden):
    code = "cooling_off"
    message = "You are cooling off: no bets, pulls or purchases until it ends."


class CannotShorten(Conflict):
    code = "cannot_shorten"
    message = "A cool-off or self-exclusion in force cannot be shortened, only extended."


class InvalidLimits(InvalidInput):
    code = "invalid_limits"
    message = "The limits are not valid."


# the guard row


_NEW_GUARD = """
INSERT INTO casino.play_guards (user_id, excluded_permanently, reality_check_minutes)
VALUES ($1, false, $2) ON CONFLICT (user_id) DO NOTHING
"""


async def _create_guard(connection: asyncpg.Connection[asyncpg.Record], user_id: uuid.UUID) -> None:
    """The member's guard with the defaults, unless it exists (racing creators: one row)."""
    await connection.execute(_NEW_GUARD, user_id, domain.DEFAULT_REALITY_CHECK_MINUTES)


async def _locked_guard(session: AsyncSession, user_id: uuid.UUID) -> PlayGuard:
    """The member's guard, created the first time, locked to the end of the transaction."""
    query = select(PlayGuard).where(PlayGuard.user_id == user_id).with_for_update()
    found = await session.scalar(query.execution_options(populate_existing=True))
    if found is None:
        await _create_guard(await transaction_connection(session), user_id)
        found = await session.scalar(query.execution_options(populate_existing=True))
    assert found is not None, "the guard exists after the insert"
    return found


async def _guard(session: AsyncSession, user_id: uuid.UUID) -> PlayGuard:
    """The member's guard as it reads now (defaults when there is no row yet)."""
    found = await session.get(PlayGuard, user_id, populate_existing=True)
    return found or PlayGuard(
        user_id=user_id,
        excluded_permanently=False,
        reality_check_minutes=domain.DEFAULT_REALITY_CHECK_MINUTES,
    )


def _refuse_if_blocked(guard: asyncpg.Record, now: datetime) -> None:
    """403 `self_excluded` or `cooling_off` while one is in force (`guard`: the row)."""
    permanent, excluded_until = guard["excluded_permanently"], guard["excluded_until"]
    if permanent or (excluded_until and excluded_until > now):
        until = None if permanent else excluded_until
        raise SelfExcluded(details={"until": until.isoformat() if until else None})
    cool_off_until = guard["cool_off_until"]
    if cool_off_until is not None and cool_off_until > now:
        raise CoolingOff(details={"until": cool_off_until.isoformat()})


# limits and usage


async def limit_states(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> dict[LimitKey, LimitState]:
    """The member's limits at `now` (pending changes that are due have applied)."""
    rows = await session.scalars(select(PlayLimit).where(PlayLimit.user_id == user_id))
    states = {
        LimitKey(LimitKind(row.kind), LimitPeriod(row.period), row.currency): LimitState(
            row.amount, row.pending_amount, row.pending_at
        ).at(now)
        for row in rows
    }
    return {key: state for key, state in sorted(states.items()) if not state.empty}


@dataclass(frozen=True)
class Usage:
    """What counts against limits now: per (period, currency) spent and lost, and minutes
    played per period."""

    spent: Mapping[tuple[LimitPeriod, str], int]
    lost: Mapping[tuple[LimitPeriod, str], int]
    minutes: Mapping[LimitPeriod, int]

    def used(self, key: LimitKey) -> int:
        match key.kind:
            case LimitKind.SPEND:
                return self.spent.get((key.period, key.currency), 0)
            case LimitKind.LOSS:
                return self.lost.get((key.period, key.currency), 0)
            case LimitKind.SESSION_TIME:
                return self.minutes[key.period]


async def play_days(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> PlayDays:
    time_zone = await session.scalar(select(User.time_zone).where(User.account_id == user_id))
    return domain.play_days(now, time_zone or "UTC")


async def usage(session: AsyncSession, user_id: uuid.UUID, days: PlayDays, now: datetime) -> Usage:
    """The member's tallies this local day and week, and their minutes of play."""
    today = PlayDay.day == days.day
    rows = await session.execute(
        select(
            PlayDay.currency,
            func.sum(PlayDay.spent).filter(today),
            func.sum(PlayDay.staked - PlayDay.won).filter(today),
            func.sum(PlayDay.spent),
            func.sum(PlayDay.staked - PlayDay.won),
        )
        .where(PlayDay.user_id == user_id, PlayDay.day >= days.week)
        .group_by(PlayDay.currency)
    )
    spent: dict[tuple[LimitPeriod, str], int] = {}
    lost: dict[tuple[LimitPeriod, str], int] = {}
    for currency, day_spent, day_lost, week_spent, week_lost in rows:
        spent[LimitPeriod.DAY, currency] = int(day_spent or 0)
        lost[LimitPeriod.DAY, currency] = int(day_lost or 0)
        spent[LimitPeriod.WEEK, currency] = int(week_spent)
        lost[LimitPeriod.WEEK, currency] = int(week_lost)
    starts = {LimitPeriod.DAY: days.day_start, LimitPeriod.WEEK: days.week_start}
    minutes = {
        period: await game_sessions.seconds_played(session, user_id, None, since, now) // 60
        for period, since in starts.items()
    }
    return Usage(spent, lost, minutes)


def _check(key: LimitKey, amount: int, used: int, adding: int) -> None:
    """409 `limit_reached` if `adding` would take `used` past `amount` (a time limit: once
    it is reached)."""
    over = used >= amount if key.kind is LimitKind.SESSION_TIME else used + adding > amount
    if over:
        raise LimitReached(
            details={
                "kind": key.kind.value,
                "period": key.period.value,
                "currency": key.currency,
                "limit": amount,
                "used": used,
                "remaining": max(amount - used, 0),
            }
        )


def _applies(key: LimitKey, currency: str, *, bet: bool) -> bool:
    if key.kind is LimitKind.SESSION_TIME:
        return bet
    if key.kind is LimitKind.LOSS and not bet:
        return False
    return key.currency == currency


_LOCK_GUARD = """
SELECT cool_off_until, excluded_until, excluded_permanently,
       (SELECT time_zone FROM casino.users WHERE account_id = $1) AS time_zone
FROM casino.play_guards WHERE user_id = $1 FOR UPDATE
"""

_COUNT = """
WITH limited AS (SELECT EXISTS (SELECT 1 FROM casino.play_limits WHERE user_id = $1) AS any)
INSERT INTO casino.play_days AS tally (user_id, day, currency, spent, staked, won)
SELECT $1, $2, $3, $4, $5, $6 FROM limited WHERE NOT ($7 AND limited.any)
ON CONFLICT (user_id, day, currency) DO UPDATE
SET spent = tally.spent + EXCLUDED.spent, staked = tally.staked + EXCLUDED.staked,
    won = tally.won + EXCLUDED.won
RETURNING 1
"""
"""Add to the day's tally; with $7, only if the member has no limits (a member with limits
is checked first): one round trip for most charges."""


async def charge_play(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    spent: int,
    currency: str,
    now: datetime,
    won: int = 0,
    bet: bool = True,
) -> None:
    """Count a bet or pull (`bet`) or a purchase (`bet=False`) of `spent` in `currency`, and
    a bet's win `won`, against the member's limits, in the caller's transaction: 403
    `self_excluded` / `cooling_off`, or 409 `limit_reached` (details: which limit, used,
    remaining), and nothing counted. A bet is checked at its whole stake: whether it is
    refused never depends on its outcome.

    Written in plain SQL (the path of every play): the guard's lock, then the tally counted
    at once when the member has no limits, else checked first."""
    connection = await transaction_connection(session)
    guard = await connection.fetchrow(_LOCK_GUARD, user_id)
    if guard is None:
        await _create_guard(connection, user_id)
        guard = await connection.fetchrow(_LOCK_GUARD, user_id)
    assert guard is not None, "the guard exists after the insert"
    _refuse_if_blocked(guard, now)
    days = domain.play_days(now, guard["time_zone"] or "UTC")
    tally = (user_id, days.day, currency, spent, spent if bet else 0, won)
    if await connection.fetchval(_COUNT, *tally, True) is not None:
        return
    limits = {
        key: state.amount
        for key, state in (await limit_states(session, user_id, now)).items()
        if state.amount is not None and _applies(key, currency, bet=bet)
    }
    if limits:
        used = await usage(session, user_id, days, now)
        for key, amount in limits.items():
            _check(key, amount, used.used(key), spent)
    await connection.execute(_COUNT, *tally, False)


# the member's settings


@dataclass(frozen=True)
class Standing:
    """A member's responsible-play state at one time."""

    guard: PlayGuard
    limits: dict[LimitKey, LimitState]
    usage: Usage
    now: datetime


async def standing(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> Standing:
    days = await play_days(session, user_id, now)
    return Standing(
        await _guard(session, user_id),
        await limit_states(session, user_id, now),
        await usage(session, user_id, days, now),
        now,
    )


async def set_limits(
    session: AsyncSession,
    user_id: uuid.UUID,
    limits: Sequence[tuple[LimitKey, int]],
    now: datetime,
) -> None:
    """Make `limits` the member's limits (those not named go): tighter at once, looser
    after `domain.RAISE_DELAY` (422 `invalid_limits` for a limit named twice or a currency
    that does not fit its kind)."""
    desired = dict(limits)
    problems = [
        {"kind": key.kind.value, "period": key.period.value, "currency": key.currency, "reason": p}
        for key in desired
        if (p := domain.key_problem(key)) is not None
    ]
    if len(desired) != len(limits):
        problems.append({"reason": "a limit is named twice"})
    if problems:
        raise InvalidLimits(details={"problems": problems})
    await _locked_guard(session, user_id)  # queue behind charges and other changes
    current = await limit_states(session, user_id, now)
    await session.execute(delete(PlayLimit).where(PlayLimit.user_id == user_id))
    for key in sorted(current.keys() | desired.keys()):
        state = domain.change(current.get(key, LimitState(None)), desired.get(key), now)
        if not state.empty:
            session.add(
                PlayLimit(
                    user_id=user_id,
                    kind=key.kind.value,
                    period=key.period.value,
                    currency=key.currency,
                    amount=state.amount,
                    pending_amount=state.pending_amount,
                    pending_at=state.pending_at,
                    updated_at=now,
                )
            )
    await session.flush()


async def set_reality_check(
    session: AsyncSession, user_id: uuid.UUID, interval_minutes: int | None
) -> None:
    """Reality checks every `interval_minutes` of a game session (None: off)."""
    guard = await _locked_guard(session, user_id)
    guard.reality_check_minutes = interval_minutes
    await session.flush()


async def cool_off(
    session: AsyncSession, user_id: uuid.UUID, duration: domain.CoolOff, now: datetime
) -> None:
    """Start or extend a cool-off (409 `cannot_shorten` if one in force ends later)."""
    guard = await _locked_guard(session, user_id)
    try:
        end = domain.extended_end(
            guard.cool_off_until, permanent=False, span=SPANS[duration], now=now
        )
    except ValueError as exc:
        raise CannotShorten(details={"cool_off_until": _iso(guard.cool_off_until)}) from exc
    guard.cool_off_until = end
    await session.flush()


async def self_exclude(
    session: AsyncSession, user_id: uuid.UUID, duration: domain.Exclusion, now: datetime
) -> None:
    """Start or extend a self-exclusion (409 `cannot_shorten` if one in force ends later)."""
    guard = await _locked_guard(session, user_id)
    try:
        end = domain.extended_end(
            guard.excluded_until,
            permanent=guard.excluded_permanently,
            span=SPANS[duration],
            now=now,
        )
    except ValueError as exc:
        raise CannotShorten(
            details={
                "self_excluded_until": _iso(guard.excluded_until),
                "permanent": guard.excluded_permanently,
            }
        ) from exc
    guard.excluded_until = end
    guard.excluded_permanently = end is None
    await session.flush()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# reality checks


async def reality_check(session: AsyncSession, hand: Hand) -> None:
    """After a hand in a game session: when the session has lasted another whole interval of
    the member's setting, one notification with its time and net result (a conditional
    upsert on the session's count, so an interval never notifies twice)."""
    if hand.session_id is None:
        return
    game = await session.get(GameSession, hand.session_id)
    assert game is not None, "a hand's session exists"
    played = hand.played_at - game.started_at
    interval = (await _guard(session, hand.user_id)).reality_check_minutes
    due = domain.reality_checks_due(played, interval)
    if due == 0:
        return
    statement = insert(RealityCheck).values(
        session_id=game.id, user_id=hand.user_id, checks=due, last_at=hand.played_at
    )
    advanced = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=[RealityCheck.session_id],
            set_={"checks": statement.excluded.checks, "last_at": statement.excluded.last_at},
            where=RealityCheck.checks < statement.excluded.checks,
        ).returning(RealityCheck.checks)
    )
    if advanced is None:
        return
    await _notify_reality(session, game, played)


async def _notify_reality(session: AsyncSession, game: GameSession, played: timedelta) -> None:
    rows = await session.execute(
        select(Hand.currency, func.count(), func.sum(Hand.payout - Hand.bet))
        .where(
            Hand.user_id == game.user_id,
            Hand.played_at >= game.started_at,  # the index on (user_id, played_at)
            Hand.session_id == game.id,
        )
        .group_by(Hand.currency)
    )
    net = {currency: int(result) for currency, _, result in rows}
    minutes = int(played // timedelta(minutes=1))
    summary = ", ".join(f"{amount:+d} {currency}" for currency, amount in sorted(net.items()))
    await notify(
        session,
        game.user_id,
        NotificationCategory.RESPONSIBLE_PLAY,
        f"You have been playing for {minutes} minutes",
        body=f"Net result of this session: {summary or 'nothing yet'}.",
        data={
            "session_id": str(game.id),
            "game_type": game.game_type.value,
            "minutes": minutes,
            "net_result": net,
        },
    )
