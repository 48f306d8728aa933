"""Gacha use cases (A4): banners and their rates, publishing a rate table (before it
applies), pulls (cost, items, shards, pity, hand: one transaction) and history. Never
commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.domain import SHARDS, GameType
from ensemble.apps.casino.fairness import service as plays
from ensemble.apps.casino.gacha.models import Banner, Pity, PullRecord, RateTableVersion
from ensemble.apps.casino.games import gacha
from ensemble.apps.casino.games.gacha import FLOATS_PER_PULL, RateTable, Tier
from ensemble.apps.casino.inventory import service as inventory
from ensemble.apps.casino.limits import service as responsible_play
from ensemble.apps.casino.models import Hand, Item
from ensemble.apps.casino.service import charge
from ensemble.apps.casino.vip import service as vip
from ensemble.kernel.db import utcnow
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.pagination import Page, PageRequest, newest_first

PULL = "gacha_pull"
"""The ledger reason of a play's cost."""
COUNTS = (1, 10)


class BannerNotFound(NotFound):
    code = "banner_not_found"
    message = "The banner does not exist."


class BannerClosed(Conflict):
    code = "banner_closed"
    message = "The banner is not open now."


class NoRatesInForce(Conflict):
    code = "no_rate_table"
    message = "No rate table of the banner is in force yet."


class RateTableNotFound(NotFound):
    code = "rate_table_not_found"
    message = "The banner has no rate table of that version."


class NoticeTooShort(InvalidInput):
    code = "effective_from_too_soon"
    message = "A rate table must be published before it applies, with the minimum notice."


class InvalidRateTable(InvalidInput):
    code = "invalid_rate_table"
    message = "The rate table is not valid."


def rate_table(row: RateTableVersion) -> RateTable:
    """The pure table of a stored version (ValueError if the stored data is malformed)."""
    return RateTable(
        version=row.version,
        effective_from=row.effective_from,
        weights={Tier(tier): weight for tier, weight in row.weights.items()},
        pools={Tier(tier): tuple(items) for tier, items in row.pools.items()},
    )


# banners and rates


async def banner(session: AsyncSession, banner_id: str) -> Banner:
    found = await session.get(Banner, banner_id)
    if found is None:
        raise BannerNotFound(details={"banner_id": banner_id})
    return found


async def open_banners(session: AsyncSession, now: datetime, *, tier: int) -> Sequence[Banner]:
    """The banners open at `now` to a member of VIP `tier` (a handful: one answer)."""
    rows = await session.scalars(
        select(Banner)
        .where(Banner.starts_at <= now, (Banner.ends_at.is_(None)) | (Banner.ends_at > now))
        .where(Banner.min_vip_tier <= tier)
        .order_by(Banner.starts_at, Banner.banner_id)
    )
    return rows.all()


async def versions(session: AsyncSession, banner_id: str) -> Sequence[RateTableVersion]:
    rows = await session.scalars(
        select(RateTableVersion)
        .where(RateTableVersion.banner_id == banner_id)
        .order_by(RateTableVersion.version)
    )
    return rows.all()


@dataclass(frozen=True)
class Rates:
    """A banner's disclosure at an instant: the version in force and the published ones
    still to come."""

    banner: Banner
    in_force: RateTableVersion | None
    upcoming: list[RateTableVersion]


async def rates(session: AsyncSession, banner_id: str, now: datetime) -> Rates:
    found = await banner(session, banner_id)
    published = await versions(session, banner_id)
    try:
        version = gacha.table_at([rate_table(row) for row in published], now).version
    except gacha.NoTableInForce:
        version = None
    in_force = next((row for row in published if row.version == version), None)
    upcoming = [row for row in published if row.effective_from > now]
    return Rates(found, in_force, upcoming)


async def version_of(session: AsyncSession, banner_id: str, version: int) -> RateTable:
    """A version of a banner's rates (404 `banner_not_found`, `rate_table_not_found`)."""
    await banner(session, banner_id)
    row = await session.get(RateTableVersion, (banner_id, version))
    if row is None:
        raise RateTableNotFound(details={"banner_id": banner_id, "version": version})
    return rate_table(row)


async def publish(
    session: AsyncSession,
    banner_id: str,
    *,
    effective_from: datetime,
    weights: Mapping[str, int],
    pools: Mapping[str, list[str]],
    notice: timedelta,
    now: datetime,
) -> RateTableVersion:
    """Publish the banner's next version, applying from `effective_from` (at least `notice`
    after `now`: 422 `effective_from_too_soon`; a bad table 422 `invalid_rate_table`).
    Versions of a banner are numbered in order: publishers queue on the banner row."""
    if effective_from <= now + notice:
        raise NoticeTooShort(
            details={
                "earliest": (now + notice).isoformat(),
                "notice_minutes": notice / timedelta(minutes=1),
            }
        )
    locked = await session.scalar(
        select(Banner).where(Banner.banner_id == banner_id).with_for_update()
    )
    if locked is None:
        raise BannerNotFound(details={"banner_id": banner_id})
    last = await session.scalar(
        select(func.max(RateTableVersion.version)).where(RateTableVersion.banner_id == banner_id)
    )
    row = RateTableVersion(
        banner_id=banner_id,
        version=(last or 0) + 1,
        effective_from=effective_from,
        published_at=now,
        weights=dict(weights),
        pools={tier: list(items) for tier, items in pools.items()},
    )
    await _check_table(session, row)
    session.add(row)
    await session.flush()
    return row


async def _check_table(session: AsyncSession, row: RateTableVersion) -> None:
    """A table the pure core accepts, over collectibles of the catalogue, each in its tier."""
    try:
        table = rate_table(row)
    except ValueError as exc:
        raise InvalidRateTable(details={"reason": str(exc)}) from exc
    listed = {item: tier for tier, items in table.pools.items() for item in items}
    if len(listed) != sum(len(items) for items in table.pools.values()):
        raise InvalidRateTable(details={"reason": "an item is listed twice"})
    rows = await session.execute(
        select(Item.item_id, Item.tier).where(Item.item_id.in_(list(listed)))
    )
    known = {row.item_id: row.tier for row in rows}
    wrong = sorted(item for item, tier in listed.items() if known.get(item) != tier)
    if wrong:
        raise InvalidRateTable(
            details={"reason": "unknown items, or items of another tier", "item_ids": wrong}
        )


# pulls


async def _locked_pity(session: AsyncSession, user_id: uuid.UUID, banner_id: str) -> int:
    """The member's counter on the banner (0 the first time), its row locked to the end of
    the transaction: one upsert whose no-op update takes the row lock and returns it."""
    statement = insert(Pity).values(
        user_id=user_id, banner_id=banner_id, counter=0, updated_at=utcnow()
    )
    counter = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=[Pity.user_id, Pity.banner_id], set_={"counter": Pity.counter}
        ).returning(Pity.counter)
    )
    assert counter is not None, "an upsert returns its row"
    return int(counter)


async def _set_pity(
    session: AsyncSession, user_id: uuid.UUID, banner_id: str, counter: int
) -> None:
    await session.execute(
        update(Pity)
        .where(Pity.user_id == user_id, Pity.banner_id == banner_id)
        .values(counter=counter, updated_at=utcnow())
    )


async def _grant(
    session: AsyncSession,
    user_id: uuid.UUID,
    pulled: Sequence[gacha.Pull],
    table: RateTable,
) -> list[int]:
    """Grant the new items and the duplicates' shards; the shards of each pull."""
    owned = await inventory.owned(session, user_id, sorted({p.item for p in pulled}))
    granted = gacha.grants(pulled, owned, table)
    quantities = dict.fromkeys(granted.items, 1)
    if granted.shards:
        quantities[SHARDS] = granted.shards
    await inventory.grant(session, user_id, quantities)
    return gacha.shards_per_pull(pulled, owned, table)


def _outcome(
    banner_id: str,
    pulled: Sequence[gacha.Pull],
    pity_before: Sequence[int],
    shards: Sequence[int],
    balance: int,
) -> dict[str, Any]:
    return {
        "banner_id": banner_id,
        "count": len(pulled),
        "pulls": [
            {
                "position": i,
                "tier": str(p.tier),
                "item_id": p.item,
                "pity_before": before,
                "shards": shard,
            }
            for i, (p, before, shard) in enumerate(zip(pulled, pity_before, shards, strict=True))
        ],
        "shards": sum(shards),
        "pity": pulled[-1].new_pity,
        "balance": balance,
    }


async def spin(
    session: AsyncSession,
    user_id: uuid.UUID,
    banner_id: str,
    count: int,
    *,
    now: datetime,
    idempotency_key: str | None = None,
    redis: Redis | None = None,
) -> Hand:
    """A play of `count` pulls on the table in force at `now`: the hand (404
    `banner_not_found`, 409 `banner_closed`, `no_rate_table`, `insufficient_<currency>`;
    a refusal writes nothing; 403 `vip_tier_required` on a banner above the member's VIP
    tier). Under an `Idempotency-Key` already played, that hand."""
    if count not in COUNTS:
        raise InvalidInput(details={"count": count, "allowed": list(COUNTS)})
    found = await banner(session, banner_id)
    await vip.require_tier(session, user_id, found.min_vip_tier)
    if not found.is_open(now):
        raise BannerClosed(details={"banner_id": banner_id})
    try:
        table = gacha.table_at([rate_table(row) for row in await versions(session, banner_id)], now)
    except gacha.NoTableInForce as exc:
        raise NoRatesInForce(details={"banner_id": banner_id}) from exc
    hand_id = plays.hand_id(user_id, GameType.GACHA, idempotency_key)
    if (replayed := await plays.played(session, user_id, hand_id, idempotency_key)) is not None:
        same = (
            replayed.outcome.get("banner_id") == banner_id
            and replayed.outcome.get("count") == count
        )
        if replayed.game_type is not GameType.GACHA or not same:
            raise plays.KeyReused()
        return replayed
    draw = await plays.advance(session, user_id)
    pity = await _locked_pity(session, user_id, banner_id)
    floats = draw.floats(table.version, FLOATS_PER_PULL * count)
    pulled = gacha.pulls(floats, table, pity, count, found.hard_pity)
    cost = found.cost_single if count == 1 else found.cost_ten
    await responsible_play.charge_play(
        session, user_id, spent=cost, currency=found.currency, now=now
    )
    reference = str(hand_id)
    entry = await charge(
        session,
        user_id,
        found.currency,
        cost,
        reason=PULL,
        reference_id=reference,
        idempotency_key=f"gacha:{reference}:cost",
    )
    shards = await _grant(session, user_id, pulled, table)
    await _set_pity(session, user_id, banner_id, pulled[-1].new_pity)
    pity_before = [pity, *(p.new_pity for p in pulled[:-1])]
    hand = Hand(
        id=hand_id,
        user_id=user_id,
        game_type=GameType.GACHA,
        currency=found.currency,
        bet=cost,
        payout=0,
        server_seed_hash=draw.server_seed_hash,
        nonce=draw.nonce,
        table_version=table.version,
        outcome=_outcome(banner_id, pulled, pity_before, shards, entry.balance_after),
        played_at=now,
    )
    await plays.add_hand(session, hand, redis=redis)
    session.add_all(
        PullRecord(
            hand_id=hand_id,
            position=i,
            user_id=user_id,
            banner_id=banner_id,
            table_version=table.version,
            nonce=draw.nonce,
            pity_before=before,
            tier=str(p.tier),
            item_id=p.item,
            shards=shard,
            pulled_at=now,
        )
        for i, (p, before, shard) in enumerate(zip(pulled, pity_before, shards, strict=True))
    )
    await session.flush()
    return hand


async def history(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest, banner_id: str | None = None
) -> Page[PullRecord]:
    """The member's pulls, the newest first, on one banner or all."""
    query = select(PullRecord).where(PullRecord.user_id == user_id)
    if banner_id is not None:
        query = query.where(PullRecord.banner_id == banner_id)
    return await newest_first(session, query, page, PullRecord.pulled_at, PullRecord.id)
