"""Gacha use cases (A4): banners and their rates, publishing a rate table (before it
applies), pulls (cost, items, shards, pity, hand: one transaction) and history. Never
commit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.casino.domain import SHARDS, GameType
from ensemble.apps.casino.fairness import service as plays
from ensemble.apps.casino.gacha.models import Banner, PullRecord, RateTableVersion
from ensemble.apps.casino.games import gacha
from ensemble.apps.casino.games.gacha import FLOATS_PER_PULL, RateTable, Tier
from ensemble.apps.casino.inventory import service as inventory
from ensemble.apps.casino.limits import service as responsible_play
from ensemble.apps.casino.models import Hand, Item
from ensemble.apps.casino.service import charge
from ensemble.apps.casino.vip import service as vip
from ensemble.kernel.db import new_id
from ensemble.kernel.db.raw import read_one, transaction_connection
from ensemble.kernel.errors import Conflict, InvalidInput, NotFound
from ensemble.kernel.identity.cache import AuthCache, watch_tables
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
    return _table(row.version, row.effective_from, row.weights, row.pools)


def _table(
    version: int,
    effective_from: datetime,
    weights: Mapping[str, int],
    pools: Mapping[str, Sequence[str]],
) -> RateTable:
    return RateTable(
        version=version,
        effective_from=effective_from,
        weights={Tier(tier): weight for tier, weight in weights.items()},
        pools={Tier(tier): tuple(items) for tier, items in pools.items()},
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


CATALOGUE = "casino_catalogue"
"""The realm of the process cache that keeps pull terms: migration 0032's triggers and
this process's own commits (`watch_tables`) make every process forget them."""
watch_tables(CATALOGUE, [Banner, RateTableVersion])


@dataclass(frozen=True)
class Terms:
    """What a pull reads of its banner: prices, pity, VIP floor, opening hours and every
    published rate table. Immutable, so one copy serves every request of a process."""

    banner_id: str
    currency: str
    cost_single: int
    cost_ten: int
    hard_pity: int
    min_vip_tier: int
    starts_at: datetime
    ends_at: datetime | None
    tables: tuple[RateTable, ...]

    def is_open(self, now: datetime) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)

    def table_at(self, now: datetime) -> RateTable:
        """The table in force (409 `no_rate_table` if none is yet)."""
        try:
            return gacha.table_at(self.tables, now)
        except gacha.NoTableInForce as exc:
            raise NoRatesInForce(details={"banner_id": self.banner_id}) from exc

    def cost(self, count: int) -> int:
        return self.cost_single if count == 1 else self.cost_ten


_TERMS = """
SELECT b.currency, b.cost_single, b.cost_ten, b.hard_pity, b.min_vip_tier, b.starts_at, b.ends_at,
       array(SELECT r.version FROM casino.gacha_rate_tables r
             WHERE r.banner_id = b.banner_id ORDER BY r.version) AS versions,
       array(SELECT r.effective_from FROM casino.gacha_rate_tables r
             WHERE r.banner_id = b.banner_id ORDER BY r.version) AS effective,
       array(SELECT json_build_array(r.weights, r.pools)::text FROM casino.gacha_rate_tables r
             WHERE r.banner_id = b.banner_id ORDER BY r.version) AS tables
FROM casino.gacha_banners b WHERE b.banner_id = $1
"""


async def terms(session: AsyncSession, banner_id: str, cache: AuthCache | None) -> Terms:
    """The banner's pull terms (404 `banner_not_found`), from the process cache when it
    holds them: a pull then reads neither the banner nor its tables."""

    async def load() -> Terms:
        row = await read_one(session, _TERMS, banner_id)
        if row is None:
            raise BannerNotFound(details={"banner_id": banner_id})
        tables = tuple(
            _table(version, effective, *json.loads(stored))
            for version, effective, stored in zip(
                row["versions"], row["effective"], row["tables"], strict=True
            )
        )
        fields = {k: v for k, v in row.items() if k not in ("versions", "effective", "tables")}
        return Terms(banner_id=banner_id, tables=tables, **fields)

    return await (load() if cache is None else cache.grant(CATALOGUE, banner_id, load))


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


_LOCKED_PITY = """
INSERT INTO casino.gacha_pity AS pity (user_id, banner_id, counter, updated_at)
VALUES ($1, $2, 0, $3)
ON CONFLICT (user_id, banner_id) DO UPDATE SET counter = pity.counter
RETURNING counter
"""
"""The member's counter on the banner (0 the first time), its row locked to the end of the
transaction: an upsert whose no-op update takes the row lock and returns it."""

_RECORD_PULLS = """
WITH pity AS (
    UPDATE casino.gacha_pity SET counter = $12, updated_at = $11
    WHERE user_id = $3 AND banner_id = $4
)
INSERT INTO casino.gacha_pulls (id, hand_id, position, user_id, banner_id, table_version, nonce,
                                pity_before, tier, item_id, shards, pulled_at)
SELECT id, $2, position - 1, $3, $4, $5, $6, pity_before, tier, item_id, shards, $11
FROM unnest($1::uuid[], $7::int[], $8::varchar[], $9::varchar[], $10::int[])
     WITH ORDINALITY AS p(id, pity_before, tier, item_id, shards, position)
"""
"""The play's pulls and the member's counter after them, in one round trip."""


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
    cache: AuthCache | None = None,
) -> Hand:
    """A play of `count` pulls on the table in force at `now`: the hand (404
    `banner_not_found`, 409 `banner_closed`, `no_rate_table`, `insufficient_<currency>`;
    a refusal writes nothing; 403 `vip_tier_required` on a banner above the member's VIP
    tier). Under an `Idempotency-Key` already played, that hand."""
    if count not in COUNTS:
        raise InvalidInput(details={"count": count, "allowed": list(COUNTS)})
    found = await terms(session, banner_id, cache)
    await vip.require_tier(session, user_id, found.min_vip_tier)
    if not found.is_open(now):
        raise BannerClosed(details={"banner_id": banner_id})
    table = found.table_at(now)
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
    connection = await transaction_connection(session)
    pity = await connection.fetchval(_LOCKED_PITY, user_id, banner_id, now)
    floats = draw.floats(table.version, FLOATS_PER_PULL * count)
    pulled = gacha.pulls(floats, table, pity, count, found.hard_pity)
    cost = found.cost(count)
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
    await connection.execute(
        _RECORD_PULLS, [new_id() for _ in pulled], hand_id, user_id, banner_id, table.version,
        draw.nonce, pity_before, [str(p.tier) for p in pulled], [p.item for p in pulled], shards,
        now, pulled[-1].new_pity,
    )  # fmt: skip
    return hand


async def history(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest, banner_id: str | None = None
) -> Page[PullRecord]:
    """The member's pulls, the newest first, on one banner or all."""
    query = select(PullRecord).where(PullRecord.user_id == user_id)
    if banner_id is not None:
        query = query.where(PullRecord.banner_id == banner_id)
    return await newest_first(session, query, page, PullRecord.pulled_at, PullRecord.id)
