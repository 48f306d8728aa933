"""ECO²'s read models in Redis, projected from the event store (kernel `projection`):

- `eco.owned`: per user, a hash of owned characters (`CharacterAcquired`);
- `eco.ranking`: per ISO week, a sorted set of characters acquired per user;
- `eco.scans`: per user, the scan history (a sorted set of scan ids, which are UUID v7 and
  so sort by time, plus a hash per scan) and scan stats (a hash of counters).

All are live through the `consume` process and rebuilt from the store, identically, by
`ensemble eco rebuild-read-models`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from ensemble.apps.eco import events
from ensemble.apps.eco.domain import week_key
from ensemble.apps.eco.schemas import OwnedCharacter, ScanHistoryItem
from ensemble.kernel.events import Envelope
from ensemble.kernel.events.envelope import as_text
from ensemble.kernel.events.projection import (
    Namespace,
    Projection,
    ensure_current,
    projection,
    read,
)
from ensemble.kernel.pagination import Page, PageRequest, build_page

SCAN_EVENTS = (
    events.ScanRequested,
    events.ScanCompleted,
    events.ScanFailed,
    events.ScanRewardGranted,
    events.ScanRewardCompensated,
)


@projection("eco.owned", aggregate_types=[events.CHARACTER], types=[events.CharacterAcquired])
async def owned_projection(pipe: Pipeline, ns: Namespace, envelope: Envelope) -> None:
    acquired = envelope.payload_as(events.CharacterAcquired)
    item = OwnedCharacter(
        character_id=acquired.character_id,
        code=acquired.character_code,
        name=acquired.character_name,
        category=acquired.category,
        acquired_at=envelope.occurred_at,
        scan_id=acquired.scan_id,
    )
    pipe.hset(
        ns.key("owned", str(acquired.user_id)), acquired.character_code, item.model_dump_json()
    )


@projection("eco.ranking", aggregate_types=[events.CHARACTER], types=[events.CharacterAcquired])
async def ranking_projection(pipe: Pipeline, ns: Namespace, envelope: Envelope) -> None:
    acquired = envelope.payload_as(events.CharacterAcquired)
    pipe.zincrby(ns.key("weekly", week_key(envelope.occurred_at)), 1, str(acquired.user_id))


@projection("eco.scans", aggregate_types=[events.SCAN], types=SCAN_EVENTS)
async def scans_projection(pipe: Pipeline, ns: Namespace, envelope: Envelope) -> None:
    scan_id, user_id = envelope.payload["scan_id"], envelope.payload["user_id"]
    scan_key, stats_key = ns.key("scan", scan_id), ns.key("stats", user_id)
    if envelope.type == events.ScanRequested.TYPE:
        pipe.zadd(ns.key("history", user_id), {scan_id: 0})
        pipe.hset(
            scan_key,
            mapping={"status": "processing", "requested_at": envelope.occurred_at.isoformat()},
        )
        pipe.hincrby(stats_key, "requested", 1)
    elif envelope.type == events.ScanCompleted.TYPE:
        completed = envelope.payload_as(events.ScanCompleted)
        reward = "pending" if completed.reward_eligible else "not_eligible"
        pipe.hset(
            scan_key,
            mapping={
                "status": "completed",
                "category": completed.category,
                "reward_status": reward,
            },
        )
        pipe.hincrby(stats_key, "completed", 1)
        pipe.hincrby(stats_key, f"category:{completed.category}", 1)
    elif envelope.type == events.ScanFailed.TYPE:
        pipe.hset(scan_key, "status", "failed")
        pipe.hincrby(stats_key, "failed", 1)
    elif envelope.type == events.ScanRewardGranted.TYPE:
        granted = envelope.payload_as(events.ScanRewardGranted)
        pipe.hset(
            scan_key, mapping={"reward_status": "granted", "character_name": granted.character_name}
        )
        pipe.hincrby(stats_key, "rewarded", 1)
    else:
        pipe.hset(scan_key, "reward_status", "failed")
        pipe.hincrby(stats_key, "compensated", 1)


PROJECTIONS: tuple[Projection, ...] = (owned_projection, ranking_projection, scans_projection)


# Reading


async def owned_characters(redis: Redis, user_id: uuid.UUID) -> list[OwnedCharacter] | None:
    """The user's characters, or None if the read model has none for them (a miss)."""

    async def reader(ns: Namespace) -> list[OwnedCharacter] | None:
        raw = await redis.hvals(ns.key("owned", str(user_id)))
        if not raw:
            return None
        items = [OwnedCharacter.model_validate_json(value) for value in raw]
        return sorted(items, key=lambda item: (item.acquired_at, item.code))

    return await read(redis, owned_projection, reader)


async def fill_owned(redis: Redis, user_id: uuid.UUID, items: Sequence[OwnedCharacter]) -> None:
    """Write a user's characters (loaded from the store after a miss) into the current read
    model. Harmless beside live deliveries: a character's entry is the same whoever writes
    it, and ownership only grows."""
    if not items:
        return
    ns = owned_projection.namespace(await ensure_current(redis, owned_projection))
    mapping = {item.code: item.model_dump_json() for item in items}
    await redis.hset(ns.key("owned", str(user_id)), mapping=mapping)  # type: ignore[arg-type]


async def weekly_top(redis: Redis, week: str, limit: int) -> list[tuple[uuid.UUID, int]]:
    async def reader(ns: Namespace) -> list[tuple[uuid.UUID, int]]:
        rows = cast(
            list[tuple[bytes, float]],
            await redis.zrevrange(ns.key("weekly", week), 0, limit - 1, withscores=True),
        )
        return [(uuid.UUID(as_text(member)), int(score)) for member, score in rows]

    return await read(redis, ranking_projection, reader)


def _id_key(scan_id: str) -> list[str]:
    return [scan_id]


def _same(scan_id: str) -> str:
    return scan_id


async def scan_history(
    redis: Redis, user_id: uuid.UUID, page: PageRequest
) -> Page[ScanHistoryItem]:
    """The user's scans, newest first, in keyset pages (the cursor is the last scan id)."""
    after_id = page.after_id()
    after = str(after_id) if after_id else None

    async def reader(ns: Namespace) -> Page[ScanHistoryItem]:
        upper = f"({after}" if after else "+"
        ids = await redis.zrevrangebylex(ns.key("history", str(user_id)), upper, "-", 0, page.fetch)
        found = build_page([as_text(member) for member in ids], page.limit, _id_key, _same)
        items = await _scan_items(redis, ns, found.items)
        return Page[ScanHistoryItem](items=items, next_cursor=found.next_cursor)

    return await read(redis, scans_projection, reader)


async def _scan_items(
    redis: Redis, ns: Namespace, scan_ids: Sequence[str]
) -> list[ScanHistoryItem]:
    async with redis.pipeline(transaction=False) as pipe:
        for scan_id in scan_ids:
            pipe.hgetall(ns.key("scan", scan_id))
        rows = await pipe.execute()
    return [
        ScanHistoryItem.model_validate(
            {"task_id": scan_id, **{as_text(k): as_text(v) for k, v in row.items()}}
        )
        for scan_id, row in zip(scan_ids, rows, strict=True)
        if row
    ]


async def scan_stats(redis: Redis, user_id: uuid.UUID) -> dict[str, int]:
    async def reader(ns: Namespace) -> dict[str, int]:
        raw = await redis.hgetall(ns.key("stats", str(user_id)))
        return {as_text(key): int(value) for key, value in raw.items()}

    return await read(redis, scans_projection, reader)
