"""VIP use cases: a member's measures over the rolling period, reviews (on an action, a gem
purchase, or the job for periods that ended), the tier's benefits for the shop, the daily
reward and the gacha, and what a member sees. Never commit.

A review locks the member's standing row first, so concurrent reviews of one member queue
and each move is decided (and notified, and written to the history) once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import distinct, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.actions.models import Action
from ensemble.apps.casino.auth import REALM
from ensemble.apps.casino.domain import GEMS, NotificationCategory
from ensemble.apps.casino.gacha.models import Banner
from ensemble.apps.casino.models import User
from ensemble.apps.casino.notifications.service import notify
from ensemble.apps.casino.vip import domain
from ensemble.apps.casino.vip.domain import PERIOD, Measures, Move, Standing, TierRule
from ensemble.apps.casino.vip.models import VipChange, VipStanding, VipTier
from ensemble.kernel.db.raw import transaction_connection
from ensemble.kernel.errors import Forbidden
from ensemble.kernel.ledger.models import Account as LedgerAccount
from ensemble.kernel.ledger.models import Direction, Entry
from ensemble.kernel.pagination import Page, PageRequest, as_fetched, paginate


class VipTierRequired(Forbidden):
    code = "vip_tier_required"
    message = "Your VIP tier is too low for this."


# the rules and a member's tier


async def tiers(session: AsyncSession) -> Sequence[VipTier]:
    """The tiers, lowest first."""
    return (await session.scalars(select(VipTier).order_by(VipTier.tier))).all()


def _rule(row: VipTier) -> TierRule:
    return TierRule(row.tier, row.min_gem_spend, row.min_active_days)


async def tier_of(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The member's tier (0 for an unknown member: the callers checked who they are)."""
    return await session.scalar(select(User.vip_tier).where(User.account_id == user_id)) or 0


async def benefits(session: AsyncSession, user_id: uuid.UUID) -> VipTier | None:
    """The tier row of the member's tier: its benefits (None if there is no such tier)."""
    found: VipTier | None = await session.scalar(
        select(VipTier).join(User, User.vip_tier == VipTier.tier).where(User.account_id == user_id)
    )
    return found


async def shop_discount(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The percentage off shop prices the member's tier gives (read by every shop request,
    in the transaction its next statements need anyway)."""
    percent = await (await transaction_connection(session)).fetchval(
        "SELECT t.shop_discount_percent FROM casino.users u"
        " JOIN casino.vip_tiers t ON t.tier = u.vip_tier WHERE u.account_id = $1",
        user_id,
    )
    return 0 if percent is None else int(percent)


async def daily_bonus(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The coins the member's tier adds to the daily login reward."""
    found = await benefits(session, user_id)
    return 0 if found is None else found.daily_bonus_coins


async def require_tier(session: AsyncSession, user_id: uuid.UUID, needed: int) -> None:
    """403 `vip_tier_required` unless the member's tier is at least `needed`."""
    if needed <= 0:
        return
    tier = await tier_of(session, user_id)
    if tier < needed:
        raise VipTierRequired(details={"required": needed, "tier": tier})


# measures


async def measure(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, period: timedelta = PERIOD
) -> Measures:
    """The member's gems spent (play and shop) and active days (UTC) since `now - period`
    (what the caller's own transaction wrote after `now` counts too)."""
    since = now - period
    spent = await session.scalar(
        select(func.coalesce(func.sum(Entry.amount), 0))
        .join(LedgerAccount, LedgerAccount.id == Entry.account_id)
        .where(
            LedgerAccount.owner_realm == REALM,
            LedgerAccount.owner_id == user_id,
            LedgerAccount.currency == GEMS,
            Entry.direction == Direction.SPEND,
            Entry.reason.in_(domain.SPENDING_REASONS),
            Entry.created_at > since,
        )
    )
    day = func.date(func.timezone("UTC", Action.created_at))
    days = await session.scalar(
        select(func.count(distinct(day))).where(
            Action.user_id == user_id, Action.created_at > since
        )
    )
    return Measures(int(spent or 0), int(days or 0))


# reviews


async def _locked_standing(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, period: timedelta
) -> VipStanding:
    """The member's standing, locked until the transaction ends (a first period starts now)."""
    await session.execute(
        insert(VipStanding)
        .values(user_id=user_id, period_ends_at=now + period, in_grace=False, updated_at=now)
        .on_conflict_do_nothing(index_elements=[VipStanding.user_id])
    )
    found = await session.scalar(
        select(VipStanding)
        .where(VipStanding.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert found is not None, "ON CONFLICT DO NOTHING skipped a row that is not there"
    return found


async def _review(
    session: AsyncSession, row: VipStanding, now: datetime, period: timedelta
) -> Move | None:
    """Review a member whose standing row this transaction holds locked."""
    rows = {each.tier: each for each in await tiers(session)}
    tier = await tier_of(session, row.user_id)
    measures = await measure(session, row.user_id, now, period)
    qualified = domain.qualified_tier([_rule(each) for each in rows.values()], measures)
    before = Standing(tier, row.period_ends_at, row.in_grace)
    after, move = domain.review(before, qualified, now, period)
    row.period_ends_at, row.in_grace, row.updated_at = after.period_ends_at, after.in_grace, now
    if after.tier != tier:
        await session.execute(
            update(User).where(User.account_id == row.user_id).values(vip_tier=after.tier)
        )
    if move is not None:
        session.add(
            VipChange(
                user_id=row.user_id,
                from_tier=tier,
                to_tier=after.tier,
                move=move.value,
                gem_spend=measures.gem_spend,
                active_days=measures.active_days,
                at=now,
            )
        )
        await _tell(session, row.user_id, move, rows.get(after.tier), after)
    await session.flush()
    return move


async def _tell(
    session: AsyncSession, user_id: uuid.UUID, move: Move, tier: VipTier | None, after: Standing
) -> None:
    """The member's notification of a move (category `tier`)."""
    name = tier.name if tier is not None else f"Tier {after.tier}"
    titles = {
        Move.UPGRADE: f"Welcome to {name}",
        Move.GRACE: f"Keep your {name} tier",
        Move.DOWNGRADE: f"Your VIP tier is now {name}",
    }
    bodies = {
        Move.UPGRADE: "Your VIP tier went up: enjoy its benefits.",
        Move.GRACE: "You did not reach this tier's requirements this period: you keep it one"
        f" more period, until {after.period_ends_at:%Y-%m-%d}.",
        Move.DOWNGRADE: "You did not reach your tier's requirements during the grace period.",
    }
    await notify(
        session,
        user_id,
        NotificationCategory.TIER,
        titles[move],
        body=bodies[move],
        data={
            "move": move.value,
            "tier": after.tier,
            "period_ends_at": after.period_ends_at.isoformat(),
        },
    )


async def review(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, period: timedelta = PERIOD
) -> Move | None:
    """Review a member now: upgrade at once if they reach a higher tier; at the end of their
    period keep, grace or drop their tier (`domain.review`). What it did, if anything."""
    return await _review(
        session, await _locked_standing(session, user_id, now, period), now, period
    )


async def note_action(
    session: AsyncSession,
    user_id: uuid.UUID,
    action_type: str,
    occurred_at: datetime,
    *,
    now: datetime,
    period: timedelta = PERIOD,
) -> Move | None:
    """The on-event path: an action of the member. A review runs when the measures may have
    moved (the member's first action of a UTC day, or one that may have spent gems) or their
    period has ended; other actions only lock and read the standing row."""
    if await session.get(User, user_id) is None:
        return None  # a member deleted since
    row = await _locked_standing(session, user_id, now, period)
    day = occurred_at.astimezone(UTC).date()
    new_day = row.last_active_day is None or day > row.last_active_day
    if new_day:
        row.last_active_day = day
    if new_day or action_type in domain.SPENDING_ACTIONS or row.period_ends_at <= now:
        return await _review(session, row, now, period)
    await session.flush()
    return None


async def review_due(
    session: AsyncSession, now: datetime, *, period: timedelta = PERIOD, batch: int = 500
) -> int:
    """The job's path: review every member whose period has ended (in batches; rows another
    review holds are skipped, it is reviewing them); how many were reviewed."""
    done = 0
    while True:
        rows = (
            await session.scalars(
                select(VipStanding)
                .where(VipStanding.period_ends_at <= now)
                .order_by(VipStanding.period_ends_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
        ).all()
        for row in rows:
            await _review(session, row, now, period)
        done += len(rows)
        if len(rows) < batch:
            return done


# what a member sees


@dataclass(frozen=True)
class Status:
    """A member's VIP status at some instant: the tier and its benefits, the banners it opens,
    the period, the measures, and what is missing for the next tier (None at the top)."""

    tier: VipTier
    in_grace: bool
    period_ends_at: datetime | None
    measures: Measures
    next_tier: VipTier | None
    missing: Measures | None
    exclusive_banners: list[str]


async def status(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, period: timedelta = PERIOD
) -> Status:
    """What `GET /api/vip/status` shows (reads only: reviews happen on actions and the job)."""
    rows = list(await tiers(session))
    tier = await tier_of(session, user_id)
    current = next((row for row in rows if row.tier == tier), rows[0])
    above = next((row for row in rows if row.tier > tier), None)
    standing = await session.get(VipStanding, user_id)
    measures = await measure(session, user_id, now, period)
    banners = await session.scalars(
        select(Banner.banner_id)
        .where(Banner.min_vip_tier > 0, Banner.min_vip_tier <= tier)
        .where(Banner.starts_at <= now, (Banner.ends_at.is_(None)) | (Banner.ends_at > now))
        .order_by(Banner.banner_id)
    )
    return Status(
        tier=current,
        in_grace=standing is not None and standing.in_grace,
        period_ends_at=None if standing is None or tier == 0 else standing.period_ends_at,
        measures=measures,
        next_tier=above,
        missing=None if above is None else domain.missing(_rule(above), measures),
        exclusive_banners=list(banners),
    )


async def history(session: AsyncSession, user_id: uuid.UUID, page: PageRequest) -> Page[VipChange]:
    """The member's tier moves, newest first."""
    return await paginate(
        session,
        select(VipChange).where(VipChange.user_id == user_id),
        page,
        keys=(VipChange.at, VipChange.id),
        item=as_fetched,
        descending=True,
    )
