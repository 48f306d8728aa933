"""The read models rebuilt from the event store equal the live ones key by key (in process
and through `ensemble eco rebuild-read-models`), and readers never see an empty model while
a rebuild runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from ensemble.apps.eco import read_models
from ensemble.apps.eco.domain import week_key
from ensemble.apps.eco.read_models import PROJECTIONS
from ensemble.kernel.db import Database
from ensemble.kernel.events.envelope import as_text
from ensemble.kernel.events.projection import (
    Projection,
    count_stored,
    generations,
    rebuild,
)
from ensemble.kernel.pagination import PageRequest
from ensemble.settings import Settings
from tests.apps.eco.conftest import (
    EcoUser,
    EcoWorld,
    InlineSaga,
    failing_scan,
    quick_users,
    reset_read_models,
)
from tests.commands import run_cli
from tests.rebuilds import reading_mid_rebuild

Dump = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Mix:
    collector: EcoUser  # three plastic characters, then compensated; food; a failed scan
    casual: EcoUser  # two characters and a scan that is not rewarded
    unlucky: EcoUser  # only a failed scan


@pytest.fixture
async def mix(eco: EcoWorld, inline_saga: InlineSaga, redis: Redis) -> Mix:
    """Several users' sagas run to the end, live read models starting from none."""
    await reset_read_models(redis)
    collector, casual, unlucky = await quick_users(eco, 3)
    for user, text in [
        *[(collector, "페트병")] * 4,
        (collector, "음식물"),
        (casual, "유리병"),
        (casual, "종이 상자"),
        (casual, "이게 뭘까요"),
    ]:
        response = await eco.classify(user, user_input=text)
        assert response.status_code == 202, response.text
    await failing_scan(eco, collector)
    await failing_scan(eco, unlucky)
    await inline_saga.settle()
    return Mix(collector, casual, unlucky)


async def value_of(redis: Redis, key: bytes) -> Any:
    kind = as_text(cast(bytes, await redis.type(key)))
    if kind == "hash":
        return {as_text(k): as_text(v) for k, v in (await redis.hgetall(key)).items()}
    if kind == "zset":
        scored = cast(list[tuple[bytes, float]], await redis.zrange(key, 0, -1, withscores=True))
        return [(as_text(member), score) for member, score in scored]
    if kind == "set":
        return sorted(as_text(member) for member in await redis.smembers(key))
    if kind == "list":
        return [as_text(item) for item in await redis.lrange(key, 0, -1)]
    return as_text(cast(bytes, await redis.get(key)))


async def dump(redis: Redis, projection: Projection) -> dict[str, Any]:
    """Every key of the current generation (named without its generation) and its value."""
    current, building = await generations(redis, projection)
    assert current is not None
    assert building is None
    prefix = projection.namespace(current).prefix
    return {
        as_text(key).removeprefix(prefix): await value_of(redis, key)
        async for key in redis.scan_iter(match=f"{prefix}:*")
    }


async def dump_all(redis: Redis) -> Dump:
    return {projection.name: await dump(redis, projection) for projection in PROJECTIONS}


async def current_generations(redis: Redis) -> list[int | None]:
    return [(await generations(redis, projection))[0] for projection in PROJECTIONS]


def check_live_models(live: Dump, mix: Mix) -> None:
    """The live models hold what the mix did (so comparing them says something)."""
    collector, casual, unlucky = (str(u.user_id) for u in (mix.collector, mix.casual, mix.unlucky))
    owned = live["eco.owned"]
    assert sorted(owned[f":owned:{collector}"]) == ["capsy", "labelon", "petty"]
    assert sorted(owned[f":owned:{casual}"]) == ["boxie", "glassy"]
    assert f":owned:{unlucky}" not in owned
    ranking = live["eco.ranking"][f":weekly:{week_key(datetime.now(UTC))}"]
    assert sorted(ranking, key=lambda row: row[1]) == [(casual, 2.0), (collector, 3.0)]
    scans = live["eco.scans"]
    assert scans[f":stats:{collector}"] == {
        "requested": "6",
        "completed": "5",
        "failed": "1",
        "rewarded": "3",
        "compensated": "1",
        "category:plastic": "4",
        "category:food": "1",
    }
    assert scans[f":stats:{unlucky}"] == {"requested": "1", "failed": "1"}
    assert len(scans[f":history:{casual}"]) == 3


async def test_a_rebuild_from_the_store_equals_the_live_models(
    mix: Mix, redis: Redis, database: Database, settings: Settings
) -> None:
    """Rebuilt in process, then by `ensemble eco rebuild-read-models`: the same models."""
    live = await dump_all(redis)
    check_live_models(live, mix)
    before = await current_generations(redis)
    for projection in PROJECTIONS:
        async with database.sessionmaker() as session:
            stored = await count_stored(session, projection)
            result = await rebuild(session, redis, projection)
        assert result.events == result.applied == stored > 0
        assert result.dropped_keys == len(live[projection.name])
    after = await current_generations(redis)
    assert all(new != old for new, old in zip(after, before, strict=True)), (before, after)
    assert await dump_all(redis) == live
    for projection, old in zip(PROJECTIONS, before, strict=True):
        assert old is not None
        leftovers = redis.scan_iter(match=f"{projection.namespace(old).prefix}:*")
        assert [key async for key in leftovers] == []

    command = await run_cli(settings, "eco", "rebuild-read-models")
    assert command.exit_code == 0, command.output
    again = await current_generations(redis)
    for projection, generation, earlier in zip(PROJECTIONS, again, after, strict=True):
        assert generation != earlier
        assert f"{projection.name}: " in command.output
        assert f"events into generation {generation}" in command.output
    assert await dump_all(redis) == live


async def read_everything(redis: Redis, mix: Mix) -> tuple[Any, ...]:
    """What the app's readers answer from the read models (a miss would read as None)."""
    user_id = mix.collector.user_id
    week = week_key(datetime.now(UTC))
    history = await read_models.scan_history(redis, user_id, PageRequest(None, 100))
    return (
        await read_models.owned_characters(redis, user_id),
        await read_models.weekly_top(redis, week, 10),
        [item.model_dump() for item in history.items],
        await read_models.scan_stats(redis, user_id),
    )


async def test_readers_never_see_an_empty_model_during_a_rebuild(
    mix: Mix, redis: Redis, database: Database
) -> None:
    expected = await read_everything(redis, mix)
    owned, ranking, history, stats = expected
    assert owned is not None
    assert len(owned) == 3
    assert len(ranking) == 2
    assert len(history) == 6
    assert stats["requested"] == 6

    looked: list[str] = []

    def looking(projection: Projection) -> Projection:
        async def look() -> None:  # the new generation is half built here
            assert await read_everything(redis, mix) == expected
            looked.append(projection.name)

        return reading_mid_rebuild(projection, redis, look)

    async def rebuild_all() -> None:
        for projection in PROJECTIONS:
            async with database.sessionmaker() as session:
                await rebuild(session, redis, looking(projection), chunk=1)

    rebuilding = asyncio.create_task(rebuild_all())
    while not rebuilding.done():  # and concurrently, across each switch as turns fall
        assert await read_everything(redis, mix) == expected
    await rebuilding
    assert set(looked) == {projection.name for projection in PROJECTIONS}
    assert await read_everything(redis, mix) == expected
