"""Characters: the catalogue, owned characters from the read model and from the event store
on a miss, ownership at past instants, and the weekly ranking."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from redis.asyncio import Redis

from ensemble.apps.eco import events, read_models
from ensemble.apps.eco.domain import week_key
from ensemble.kernel.events import Envelope
from ensemble.kernel.events.projection import drop, generations
from tests.apicheck import assert_error
from tests.apps.eco.conftest import (
    API,
    EcoUser,
    EcoWorld,
    InlineSaga,
    quick_users,
    reset_read_models,
)

RECYCLABLE = ("plastic", "paper", "can", "glass", "vinyl", "styrofoam")


async def grant(saga: InlineSaga, user: EcoUser, *categories: str) -> None:
    """Eligible scans of `categories` completed for the user, and the saga run to the end."""
    for category in categories:
        scan_id = uuid.uuid4()
        completed = events.ScanCompleted(
            scan_id=scan_id,
            user_id=user.user_id,
            category=category,
            reward_eligible=True,
            confidence=0.9,
        )
        await saga.deliver(
            Envelope(
                aggregate_type=events.SCAN,
                aggregate_id=str(scan_id),
                type=events.ScanCompleted.TYPE,
                version=completed.VERSION,
                payload=completed.model_dump(mode="json"),
            )
        )
        await saga.settle()


async def get(world: EcoWorld, user: EcoUser, path: str, **params: Any) -> Any:
    response = await world.client.get(f"{API}{path}", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


def codes(owned: dict[str, Any]) -> list[str]:
    assert owned["total"] == len(owned["items"]), owned
    return [item["code"] for item in owned["items"]]


async def test_the_catalogue_has_three_characters_per_recyclable_category(
    eco: EcoWorld,
) -> None:
    [user] = await quick_users(eco, 1)
    catalogue = await get(eco, user, "/characters")
    assert len(catalogue) == 18
    assert Counter(c["category"] for c in catalogue) == dict.fromkeys(RECYCLABLE, 3)
    assert len({c["code"] for c in catalogue}) == len({c["character_id"] for c in catalogue}) == 18
    assert [c["code"] for c in catalogue if c["category"] == "plastic"] == [
        "petty",
        "capsy",
        "labelon",
    ]
    unauthenticated = await eco.client.get(f"{API}/characters")
    assert_error(unauthenticated, 401)


async def test_owned_characters_come_from_the_store_on_a_read_model_miss(
    eco: EcoWorld, inline_saga: InlineSaga, redis: Redis
) -> None:
    user, newcomer = await quick_users(eco, 2)
    await grant(inline_saga, user, "plastic", "glass", "plastic")
    cached = await get(eco, user, "/characters/me")
    assert codes(cached) == ["petty", "glassy", "capsy"]
    assert all(item["scan_id"] for item in cached["items"])

    current, _ = await generations(redis, read_models.owned_projection)
    assert current is not None
    namespace = read_models.owned_projection.namespace(current)
    await redis.delete(namespace.key("owned", str(user.user_id)))
    assert await read_models.owned_characters(redis, user.user_id) is None  # a miss
    assert await get(eco, user, "/characters/me") == cached
    refilled = await read_models.owned_characters(redis, user.user_id)  # the miss filled it
    assert refilled is not None
    assert [item.code for item in refilled] == codes(cached)

    await drop(redis, namespace)  # the whole read model gone
    await redis.delete(read_models.owned_projection.meta)
    assert await get(eco, user, "/characters/me") == cached
    assert codes(await get(eco, newcomer, "/characters/me")) == []


async def test_history_shows_ownership_as_it_was(eco: EcoWorld, inline_saga: InlineSaga) -> None:
    [user] = await quick_users(eco, 1)
    before = datetime.now(UTC)
    await grant(inline_saga, user, "can")
    between = datetime.now(UTC)
    await grant(inline_saga, user, "paper")
    after = datetime.now(UTC)

    async def owned_at(at: datetime) -> list[str]:
        answer = await get(eco, user, "/characters/me/history", at=at.isoformat())
        assert datetime.fromisoformat(answer["at"]) == at
        return codes(answer)

    assert await owned_at(before) == []
    assert await owned_at(between) == ["canny"]
    assert await owned_at(between.astimezone(timezone(timedelta(hours=9)))) == ["canny"]
    assert await owned_at(after) == ["canny", "boxie"]
    assert await owned_at(after) == codes(await get(eco, user, "/characters/me"))


async def test_history_needs_an_aware_instant(eco: EcoWorld) -> None:
    [user] = await quick_users(eco, 1)
    for at in (None, "2026-01-01T12:00:00", "yesterday", "2026-13-01T00:00:00Z", ""):
        params = {} if at is None else {"at": at}
        response = await eco.client.get(
            f"{API}/characters/me/history", params=params, headers=user.headers
        )
        assert response.status_code == 422, (at, response.text)
        assert_error(response, 422)


async def test_the_weekly_ranking_orders_collectors(
    eco: EcoWorld, inline_saga: InlineSaga, redis: Redis
) -> None:
    await reset_read_models(redis)  # this week's ranking holds earlier tests' users
    first, second, third = await quick_users(eco, 3)
    await grant(inline_saga, third, "plastic")
    await grant(inline_saga, first, "plastic", "paper", "can")
    await grant(inline_saga, second, "glass", "vinyl")

    ranking = await get(eco, second, "/characters/ranking", period="weekly", limit=10)
    assert ranking["period"] == "weekly"
    assert ranking["key"] == week_key(datetime.now(UTC))
    assert [(e["rank"], e["user_id"], e["characters"], e["me"]) for e in ranking["items"]] == [
        (1, str(first.user_id), 3, False),
        (2, str(second.user_id), 2, True),
        (3, str(third.user_id), 1, False),
    ]
    top = await get(eco, third, "/characters/ranking", limit=2)
    assert [(e["user_id"], e["me"]) for e in top["items"]] == [
        (str(first.user_id), False),
        (str(second.user_id), False),
    ]
    for params in ({"period": "monthly"}, {"period": ""}, {"limit": 0}, {"limit": 101}):
        response = await eco.client.get(
            f"{API}/characters/ranking", params=params, headers=first.headers
        )
        assert_error(response, 422)
