"""Reward use cases: grant once per idempotency key (admins, and the system: the daily login,
achievements, missions), the history, a reversal; the daily login reward with its streak,
shields, calendar and preview; the member's time zone. Never commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.auth import REALM
from ensemble.apps.casino.domain import (
    DAILY_LOGIN_REASON,
    STREAK_SHIELD,
    Reason,
    RewardKind,
    RewardSpec,
    StreakStep,
    daily_reward,
    next_streak_step,
    reward_shape_error,
)
from ensemble.apps.casino.inventory import service as inventory
from ensemble.apps.casino.models import Item, User
from ensemble.apps.casino.notifications import messages
from ensemble.apps.casino.rewards.models import Reward, Streak, StreakDay
from ensemble.apps.casino.service import member
from ensemble.apps.casino.vip import domain as vip_domain
from ensemble.apps.casino.vip import service as vip
from ensemble.kernel.db import utcnow
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.ledger import service as ledger
from ensemble.kernel.ledger.domain import AccountOwner
from ensemble.kernel.ledger.models import Direction
from ensemble.kernel.pagination import Page, PageRequest, newest_first


class InvalidReward(InvalidInput):
    code = "invalid_reward"
    message = "The reward's fields do not fit its kind."


class RewardKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This idempotency key was already used for a different reward."


class RewardNotFound(NotFound):
    code = "reward_not_found"
    message = "The reward does not exist."


class RewardAlreadyReversed(Conflict):
    code = "reward_already_reversed"
    message = "The reward was reversed already."


class UnknownTimeZone(InvalidInput):
    code = "unknown_time_zone"
    message = "Not an IANA time zone name."


# grants


@dataclass(frozen=True)
class Granted:
    """A grant, and whether it was recorded earlier under the same key (then this call
    changed nothing)."""

    reward: Reward
    replayed: bool


async def grant(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: RewardKind,
    amount: int | None = None,
    item_id: str | None = None,
    quantity: int | None = None,
    reason: str,
    idempotency_key: str,
    granted_by: uuid.UUID | None = None,
) -> Granted:
    """Grant a member coins or gems (through the ledger) or an item (through the inventory),
    once per `(user_id, idempotency_key)`: a re-sent key answers the original grant, the
    same key with other content raises 409 `idempotency_key_reused`. 422 `invalid_reward`
    for fields that do not fit `kind`, 404 for an unknown member or item."""
    spec = RewardSpec(kind, amount=amount, item_id=item_id, quantity=quantity)
    if problem := reward_shape_error(spec):
        raise InvalidReward(details={"problem": problem})
    await member(session, user_id)
    if item_id is not None and await session.get(Item, item_id) is None:
        raise inventory.ItemNotFound(details={"item_ids": [item_id]})
    reward = await _record(session, user_id, spec, reason, idempotency_key, granted_by)
    if reward is None:
        return Granted(await _replayed(session, user_id, spec, reason, idempotency_key), True)
    await _hand_over(session, reward)
    await messages.reward_granted(session, reward)
    return Granted(reward, replayed=False)


async def _record(
    session: AsyncSession,
    user_id: uuid.UUID,
    spec: RewardSpec,
    reason: str,
    idempotency_key: str,
    granted_by: uuid.UUID | None,
) -> Reward | None:
    """The new grant's row, or None when the key is taken. A concurrent twin's INSERT waits
    for the first one's transaction, then finds its row: one grant per key."""
    statement = (
        insert(Reward)
        .values(
            user_id=user_id,
            kind=spec.kind,
            amount=spec.amount,
            item_id=spec.item_id,
            quantity=spec.quantity,
            reason=reason,
            idempotency_key=idempotency_key,
            granted_by=granted_by,
        )
        .on_conflict_do_nothing(index_elements=[Reward.user_id, Reward.idempotency_key])
        .returning(Reward)
    )
    reward: Reward | None = await session.scalar(
        statement, execution_options={"populate_existing": True}
    )
    return reward


async def _replayed(
    session: AsyncSession, user_id: uuid.UUID, spec: RewardSpec, reason: str, key: str
) -> Reward:
    """The grant recorded under `key`, if it is this same grant (409 otherwise)."""
    original = await session.scalar(
        select(Reward).where(Reward.user_id == user_id, Reward.idempotency_key == key)
    )
    assert original is not None, "ON CONFLICT DO NOTHING skipped a row that is not there"
    recorded = RewardSpec(
        original.kind, amount=original.amount, item_id=original.item_id, quantity=original.quantity
    )
    if recorded != spec or original.reason != reason:
        raise RewardKeyReused(details={"idempotency_key": key, "reward_id": str(original.id)})
    return original


def _wallet(reward: Reward) -> AccountOwner:
    return AccountOwner(REALM, reward.user_id, reward.kind.value)


async def _hand_over(session: AsyncSession, reward: Reward) -> None:
    """Credit what a new grant gives: a ledger EARN keyed by the reward's key, or items."""
    if reward.kind is RewardKind.ITEM:
        assert reward.item_id is not None
        assert reward.quantity is not None
        await inventory.grant(session, reward.user_id, {reward.item_id: reward.quantity})
        return
    assert reward.amount is not None
    await ledger.post_by_owner(
        session,
        _wallet(reward),
        Direction.EARN,
        {
            "amount": reward.amount,
            "reason": Reason.REWARD,
            "reference_type": "casino.reward",
            "reference_id": str(reward.id),
            "description": reward.reason,
            "idempotency_key": f"reward:{reward.idempotency_key}",
        },
    )


async def history(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest, *, kind: RewardKind | None
) -> Page[Reward]:
    """A member's grants, newest first (of one `kind` if given)."""
    query = select(Reward).where(Reward.user_id == user_id)
    if kind is not None:
        query = query.where(Reward.kind == kind)
    return await newest_first(session, query, page, Reward.created_at, Reward.id)


async def reverse(
    session: AsyncSession, reward_id: uuid.UUID, *, reason: str, reversed_by: uuid.UUID
) -> Reward:
    """Take a grant back, at most once: coins or gems spent back through the ledger (409
    `insufficient_balance` if the member has spent them), items taken (409
    `not_enough_items`); 404 `reward_not_found`, 409 `reward_already_reversed`."""
    reward: Reward | None = await session.scalar(
        update(Reward)
        .where(Reward.id == reward_id, Reward.reversed_at.is_(None))
        .values(reversed_at=utcnow(), reversed_by=reversed_by, reverse_reason=reason)
        .returning(Reward),
        execution_options={"populate_existing": True},
    )
    if reward is None:
        if await session.get(Reward, reward_id) is None:
            raise RewardNotFound(details={"reward_id": str(reward_id)})
        raise RewardAlreadyReversed(details={"reward_id": str(reward_id)})
    if reward.kind is RewardKind.ITEM:
        assert reward.item_id is not None
        assert reward.quantity is not None
        await inventory.take(session, reward.user_id, reward.item_id, reward.quantity)
        return reward
    assert reward.amount is not None
    await ledger.spend_by_owner(
        session,
        _wallet(reward),
        amount=reward.amount,
        reason=Reason.REWARD_REVERSED,
        reference_type="casino.reward",
        reference_id=str(reward.id),
        description=reason,
        idempotency_key=f"reward-reversed:{reward.id}",
    )
    return reward


# time zones


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


async def set_time_zone(session: AsyncSession, user_id: uuid.UUID, time_zone: str) -> None:
    """Set the IANA time zone a member's days follow (422 `unknown_time_zone`). Claimed
    days never repeat: a change back to an earlier day claims nothing."""
    if time_zone not in _time_zones():
        raise UnknownTimeZone(details={"time_zone": time_zone})
    await session.execute(
        update(User).where(User.account_id == user_id).values(time_zone=time_zone)
    )


@dataclass(frozen=True)
class LocalDay:
    """A member's time zone and the day it is there at some instant."""

    time_zone: str
    today: date


async def local_day(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> LocalDay:
    """The member's local day at `now` (404 `user_not_found`)."""
    time_zone = (await member(session, user_id)).time_zone
    return LocalDay(time_zone, now.astimezone(ZoneInfo(time_zone)).date())


# the daily login reward and the streak


@dataclass(frozen=True)
class DailyClaim:
    """A local day claimed: its calendar row, its reward (None on the sign-up day), the
    streak after it, and whether this call claimed it (False: claimed earlier)."""

    day: StreakDay
    reward: Reward | None
    streak: Streak
    claimed_now: bool


def daily_key(day: date) -> str:
    """The idempotency key of a day's login reward (`:` is never in an API key)."""
    return f"daily-login:{day.isoformat()}"


async def start_streak(session: AsyncSession, user_id: uuid.UUID, *, now: datetime) -> None:
    """A new member's first day: the sign-up is its first login and the sign-up coins are
    that day's reward, so the streak starts at 1 with no grant of its own."""
    today = (await local_day(session, user_id, now)).today
    session.add(Streak(user_id=user_id, current=1, longest=1, last_day=today, updated_at=now))
    session.add(StreakDay(user_id=user_id, day=today, streak_day=1, claimed_at=now))
    await session.flush()


async def daily_login(session: AsyncSession, user_id: uuid.UUID, *, now: datetime) -> DailyClaim:
    """Claim the member's local day at `now`: the first claim of a day grants its reward
    (`domain.DAILY_CYCLE`), extends the streak (a shield covering one missed day is used up)
    or starts it over; later claims of the day answer that first claim. Concurrent claims
    queue on the streak's row lock, so a day is granted once."""
    today = (await local_day(session, user_id, now)).today
    streak = await _locked_streak(session, user_id, now)
    shields = await inventory.quantity(session, user_id, STREAK_SHIELD)
    step = next_streak_step(
        current=streak.current, last_day=streak.last_day, day=today, shields=shields
    )
    if step is None:
        assert streak.last_day is not None
        return await _claimed(session, streak, streak.last_day)
    return await _claim(session, streak, today, step, now)


async def _locked_streak(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> Streak:
    """The member's streak row, locked until the transaction ends (created empty first)."""
    query = (
        select(Streak)
        .where(Streak.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    found = await session.scalar(query)
    if found is not None:
        return found
    await session.execute(
        insert(Streak)
        .values(user_id=user_id, current=0, longest=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=[Streak.user_id])
    )
    created = await session.scalar(query)
    assert created is not None, "ON CONFLICT DO NOTHING skipped a row that is not there"
    return created


async def _claim(
    session: AsyncSession, streak: Streak, today: date, step: StreakStep, now: datetime
) -> DailyClaim:
    if step.uses_shield:
        await inventory.take(session, streak.user_id, STREAK_SHIELD)
    spec = daily_reward(step.streak_day)
    granted = await grant(
        session,
        user_id=streak.user_id,
        kind=spec.kind,
        amount=spec.amount,
        item_id=spec.item_id,
        quantity=spec.quantity,
        reason=DAILY_LOGIN_REASON,
        idempotency_key=daily_key(today),
    )
    await _vip_bonus(session, streak.user_id, today)
    day = StreakDay(
        user_id=streak.user_id,
        day=today,
        streak_day=step.streak_day,
        reward_id=granted.reward.id,
        shield_used=step.uses_shield,
        claimed_at=now,
    )
    session.add(day)
    streak.current = step.streak_day
    streak.longest = max(streak.longest, step.streak_day)
    streak.last_day = today
    streak.updated_at = now
    await session.flush()
    return DailyClaim(day, granted.reward, streak, claimed_now=True)


async def _vip_bonus(session: AsyncSession, user_id: uuid.UUID, today: date) -> None:
    """The member's VIP tier's daily bonus coins (B3), granted with the day's reward."""
    if bonus := await vip.daily_bonus(session, user_id):
        await grant(
            session,
            user_id=user_id,
            kind=RewardKind.COINS,
            amount=bonus,
            reason=vip_domain.DAILY_BONUS_REASON,
            idempotency_key=vip_domain.daily_bonus_key(today),
        )


async def _claimed(session: AsyncSession, streak: Streak, day: date) -> DailyClaim:
    """The claim already made of `day`."""
    found = await session.get(StreakDay, (streak.user_id, day))
    assert found is not None, "a streak's last day is always claimed"
    reward = None if found.reward_id is None else await session.get(Reward, found.reward_id)
    return DailyClaim(found, reward, streak, claimed_now=False)


@dataclass(frozen=True)
class Preview:
    """The reward of a coming claim: its local day and its place in the streak."""

    day: date
    streak_day: int
    reward: RewardSpec


@dataclass(frozen=True)
class StreakView:
    """A member's streak as it stands at some instant (`current` is 0 once it is broken)."""

    time_zone: str
    today: date
    current: int
    longest: int
    last_day: date | None
    today_claimed: bool
    shields: int
    month: str
    """The calendar's month, `YYYY-MM`."""
    calendar: list[StreakDay]
    next_rewards: list[Preview]


PREVIEWED = 7


@dataclass(frozen=True)
class _Standing:
    """Where a member's streak stands on their local day: `step` is what claiming today
    would do (None: today is claimed)."""

    where: LocalDay
    streak: Streak
    shields: int
    step: StreakStep | None

    @property
    def current(self) -> int:
        """The days in a row, 0 once a claim today could only start over."""
        alive = self.step is None or self.step.streak_day > 1
        return self.streak.current if alive else 0


async def _standing(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> _Standing:
    where = await local_day(session, user_id, now)
    streak = await session.get(Streak, user_id) or Streak(user_id=user_id, current=0, longest=0)
    shields = await inventory.quantity(session, user_id, STREAK_SHIELD)
    step = next_streak_step(
        current=streak.current, last_day=streak.last_day, day=where.today, shields=shields
    )
    return _Standing(where, streak, shields, step)


async def streak_view(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime, month: date | None = None
) -> StreakView:
    """The streak at `now`: counts, shields, whether today is claimed, the days claimed in
    `month` (any day of it; default the member's current month) and the next rewards."""
    standing = await _standing(session, user_id, now)
    today = standing.where.today
    month = month or today
    return StreakView(
        time_zone=standing.where.time_zone,
        today=today,
        current=standing.current,
        longest=standing.streak.longest,
        last_day=standing.streak.last_day,
        today_claimed=standing.step is None,
        shields=standing.shields,
        month=month.strftime("%Y-%m"),
        calendar=await _calendar(session, user_id, month),
        next_rewards=_previews(today, standing.streak.current, standing.step),
    )


def _previews(today: date, current: int, step: StreakStep | None) -> list[Preview]:
    """The next `PREVIEWED` claims if the member claims every day from the next claimable
    one: tomorrow when today is claimed, else today."""
    if step is None:
        start, streak_day = today + timedelta(days=1), current + 1
    else:
        start, streak_day = today, step.streak_day
    return [
        Preview(start + timedelta(days=n), streak_day + n, daily_reward(streak_day + n))
        for n in range(PREVIEWED)
    ]


async def _calendar(session: AsyncSession, user_id: uuid.UUID, month: date) -> list[StreakDay]:
    first = month.replace(day=1)
    following = (first + timedelta(days=31)).replace(day=1)
    days = await session.scalars(
        select(StreakDay)
        .where(StreakDay.user_id == user_id, StreakDay.day >= first, StreakDay.day < following)
        .order_by(StreakDay.day)
    )
    return list(days)


async def current_streak(session: AsyncSession, user_id: uuid.UUID, *, now: datetime) -> int:
    """The profile's `streak`: the days in a row claimed, 0 once broken."""
    return (await _standing(session, user_id, now)).current
