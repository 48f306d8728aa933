"""B0 users, points history, diaries, questionnaires and the catalogue, through HTTP."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from ensemble.apps.b0 import app as b0_app
from ensemble.apps.b0.domain import DIARY_REWARD, QUESTIONNAIRE_REWARD, SIGN_UP_BONUS, local_day
from ensemble.apps.b0.models import Airship, City, Diary, User
from ensemble.kernel.db import new_id, utcnow
from tests.apicheck import assert_error, bearer
from tests.apps.b0.conftest import B0World, Traveller
from tests.apps.b0.helpers import question
from tests.conftest import empty_apps

API = "/api/v1"


@pytest.fixture
async def empty(b0: B0World) -> None:
    """No rows at all, not even the demo catalogue the migrations seed."""
    await empty_apps(b0.database, [b0_app])


async def get(world: B0World, path: str, who: Traveller, **params: Any) -> Any:
    response = await world.client.get(API + path, params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def all_pages(world: B0World, path: str, who: Traveller, limit: int) -> list[Any]:
    """Every item of a cursor-paginated list, `limit` at a time (no page larger than that)."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        page = await get(world, path, who, **params)
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def points(world: B0World, who: Traveller) -> int:
    me = await get(world, "/users/me", who)
    balance: int = me["current_points"]
    return balance


async def reasons(world: B0World, who: Traveller) -> list[str]:
    history = await all_pages(world, "/points/transactions", who, limit=100)
    return [row["reason"] for row in history]


async def at_once(
    n: int, request: Callable[[], Awaitable[httpx.Response]]
) -> list[tuple[int, str | None]]:
    """Send `n` copies of a request concurrently; their statuses and error codes, sorted."""
    responses = await asyncio.gather(*(request() for _ in range(n)))
    return sorted((r.status_code, r.json().get("error", {}).get("code")) for r in responses)


# Users


async def test_post_users_is_idempotent(b0: B0World) -> None:
    headers = bearer(b0.token(email="first@example.com"))
    first = await b0.client.post(f"{API}/users", headers=headers)
    again = await b0.client.post(f"{API}/users", headers=headers)
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json()["user_id"] == first.json()["user_id"]
    assert first.json()["email"] == "first@example.com"
    assert again.json()["current_points"] == SIGN_UP_BONUS


async def test_concurrent_sign_ups_make_one_user_and_one_bonus(b0: B0World) -> None:
    token = b0.token()
    responses = await asyncio.gather(
        *(b0.client.post(f"{API}/users", headers=bearer(token)) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["user_id"] for r in responses}) == 1
    async with b0.database.unit_of_work() as session:
        user_ids = (await session.execute(select(User.id))).scalars().all()
    assert [str(u) for u in user_ids] == [responses[0].json()["user_id"]]
    caller = Traveller("", token, user_ids[0])
    assert await reasons(b0, caller) == ["SIGN_UP"]
    assert await points(b0, caller) == SIGN_UP_BONUS


@pytest.mark.parametrize(
    "patch",
    [
        {"nickname": "ab"},
        {"nickname": "Ten chars!"},
        {"nickname": "여행자"},
        {"profile": "😀"},
        {"profile": "👩‍💻"},
        {"profile": "👍🏽"},
        {"profile": "🇰🇷"},
        {"nickname": "Both", "profile": "🚀"},
    ],
    ids=repr,
)
async def test_valid_profile_updates_are_saved(b0: B0World, patch: dict[str, str]) -> None:
    alice = await b0.traveller()
    response = await b0.client.patch(f"{API}/users/me", json=patch, headers=alice.headers)
    assert response.status_code == 200, response.text
    me = await get(b0, "/users/me", alice)
    assert {k: me[k] for k in patch} == patch


@pytest.mark.parametrize(
    "patch",
    [
        {"nickname": "a"},
        {"nickname": "elevenchars"},
        {"nickname": ""},
        {"nickname": " padded "},
        {"nickname": 12345},
        {"profile": "ab"},
        {"profile": "😀😀"},
        {"profile": "😀a"},
        {"profile": ""},
        {"profile": "👩‍💻👩‍💻"},
    ],
    ids=repr,
)
async def test_invalid_profile_updates_are_422_and_change_nothing(
    b0: B0World, patch: dict[str, Any]
) -> None:
    alice = await b0.traveller()
    before = await get(b0, "/users/me", alice)
    response = await b0.client.patch(f"{API}/users/me", json=patch, headers=alice.headers)
    assert_error(response, 422, "validation_error")
    assert await get(b0, "/users/me", alice) == before


# Points


async def test_points_history_is_newest_first_paginated_and_chains(b0: B0World) -> None:
    city, airship = await b0.city(cost=120), await b0.airship()
    alice = await b0.traveller()
    diary = {"title": "Day one", "content": "Packed."}
    assert (await b0.client.post(f"{API}/diaries", json=diary, headers=alice.headers)).is_success
    answer = f"{API}/questionnaires/{await question(b0)}/answer"
    assert (await b0.client.post(answer, json={"content": "Sea"}, headers=alice.headers)).is_success
    first = (await b0.buy(alice, city, airship)).json()
    cancel = f"{API}/tickets/{first['ticket_id']}/cancel"
    assert (await b0.client.post(cancel, headers=alice.headers)).is_success
    assert (await b0.buy(alice, city, airship)).status_code == 201

    history = await all_pages(b0, "/points/transactions", alice, limit=2)
    assert [(row["reason"], row["type"], row["amount"]) for row in history] == [
        ("TICKET", "SPEND", 120),
        ("REFUND", "EARN", 120),
        ("TICKET", "SPEND", 120),
        ("QUESTIONNAIRE", "EARN", QUESTIONNAIRE_REWARD),
        ("DIARY", "EARN", DIARY_REWARD),
        ("SIGN_UP", "EARN", SIGN_UP_BONUS),
    ]
    assert len({row["point_transaction_id"] for row in history}) == len(history)
    for row in history:
        sign = 1 if row["type"] == "EARN" else -1
        assert row["balance_after"] - row["balance_before"] == sign * row["amount"], row
        assert row["status"] == "COMPLETED"
    for newer, older in itertools.pairwise(history):
        assert newer["balance_before"] == older["balance_after"], (newer, older)
        assert newer["created_at"] >= older["created_at"]
    assert history[-1]["balance_before"] == 0
    assert history[0]["balance_after"] == await points(b0, alice)


@pytest.mark.parametrize(
    "params", [{"cursor": "not-a-cursor"}, {"cursor": "WyJ4Il0"}, {"limit": 0}, {"limit": 101}]
)
async def test_bad_page_parameters_are_422(b0: B0World, params: dict[str, Any]) -> None:
    alice = await b0.traveller()
    response = await b0.client.get(
        f"{API}/points/transactions", params=params, headers=alice.headers
    )
    assert_error(response, 422)


# Diaries


async def write_diary(world: B0World, who: Traveller, title: str = "Today") -> httpx.Response:
    body = {"title": title, "content": "Clouds all day.", "mood": "calm"}
    return await world.client.post(f"{API}/diaries", json=body, headers=who.headers)


async def test_one_diary_per_local_day_earns_points_once(b0: B0World) -> None:
    alice = await b0.traveller()
    first = await write_diary(b0, alice)
    assert first.status_code == 201, first.text
    assert first.json()["diary_date"] == local_day(utcnow(), b0.b0_settings.timezone).isoformat()
    assert_error(await write_diary(b0, alice, "Again"), 409, "diary_exists")
    assert await reasons(b0, alice) == ["DIARY", "SIGN_UP"]
    assert await points(b0, alice) == SIGN_UP_BONUS + DIARY_REWARD


async def test_concurrent_diaries_of_one_day_make_one(b0: B0World) -> None:
    alice = await b0.traveller()
    outcomes = await at_once(5, lambda: write_diary(b0, alice))
    assert outcomes == [(201, None)] + [(409, "diary_exists")] * 4
    assert len((await get(b0, "/diaries", alice))["items"]) == 1
    assert await points(b0, alice) == SIGN_UP_BONUS + DIARY_REWARD


async def test_diaries_list_and_read_only_ones_own(b0: B0World) -> None:
    alice, bob = await b0.traveller(), await b0.traveller()
    today = (await write_diary(b0, alice)).json()
    bobs = (await write_diary(b0, bob)).json()
    async with b0.database.unit_of_work() as session:  # earlier days, written back then
        for days in (3, 1, 2):
            day = local_day(utcnow() - timedelta(days=days), b0.b0_settings.timezone)
            session.add(
                Diary(id=new_id(), user_id=alice.user_id, diary_date=day, title=f"-{days}d",
                      content="Earlier.")
            )  # fmt: skip

    listed = await all_pages(b0, "/diaries", alice, limit=2)
    assert [d["title"] for d in listed] == ["Today", "-1d", "-2d", "-3d"]
    assert [d["diary_id"] for d in await all_pages(b0, "/diaries", bob, limit=2)] == [
        bobs["diary_id"]
    ]
    assert await get(b0, f"/diaries/{today['diary_id']}", alice) == today
    mine = await b0.client.get(f"{API}/diaries/{bobs['diary_id']}", headers=alice.headers)
    assert_error(mine, 404, "diary_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"title": "", "content": "x"},
        {"title": "x", "content": ""},
        {"title": "x" * 101, "content": "x"},
        {"title": "x", "content": "x", "mood": "m" * 33},
        {"content": "no title"},
    ],
    ids=["empty title", "empty content", "long title", "long mood", "no title"],
)
async def test_invalid_diaries_are_422(b0: B0World, body: dict[str, Any]) -> None:
    alice = await b0.traveller()
    response = await b0.client.post(f"{API}/diaries", json=body, headers=alice.headers)
    assert_error(response, 422, "validation_error")
    assert await reasons(b0, alice) == ["SIGN_UP"]


# Questionnaires


async def answer(world: B0World, who: Traveller, question_id: uuid.UUID) -> httpx.Response:
    path = f"{API}/questionnaires/{question_id}/answer"
    return await world.client.post(path, json={"content": "By sea"}, headers=who.headers)


async def test_questions_are_answered_once_with_points_once(b0: B0World, empty: None) -> None:
    second = await question(b0, "Second?", order=2)
    first = await question(b0, "First?", order=1)
    hidden = await question(b0, "Retired?", order=0, active=False)
    alice, bob = await b0.traveller(), await b0.traveller()

    created = await answer(b0, alice, second)
    assert created.status_code == 201, created.text
    assert (created.json()["question_id"], created.json()["content"]) == (str(second), "By sea")
    assert_error(await answer(b0, alice, second), 409, "already_answered")
    assert_error(await answer(b0, alice, hidden), 404, "question_not_found")
    assert_error(await answer(b0, alice, new_id()), 404, "question_not_found")
    assert await reasons(b0, alice) == ["QUESTIONNAIRE", "SIGN_UP"]

    def shown(page: Any) -> list[tuple[str, str | None]]:
        return [(q["question_id"], q["my_answer"]) for q in page["items"]]

    assert shown(await get(b0, "/questionnaires", alice)) == [
        (str(first), None),
        (str(second), "By sea"),
    ]
    assert shown(await get(b0, "/questionnaires", bob)) == [(str(first), None), (str(second), None)]


async def test_concurrent_answers_to_one_question_make_one(b0: B0World) -> None:
    alice, asked = await b0.traveller(), await question(b0)
    outcomes = await at_once(5, lambda: answer(b0, alice, asked))
    assert outcomes == [(201, None)] + [(409, "already_answered")] * 4
    assert await points(b0, alice) == SIGN_UP_BONUS + QUESTIONNAIRE_REWARD


# Catalogue


async def add_city(world: B0World, name: str, order: int, *, active: bool = True) -> uuid.UUID:
    async with world.database.unit_of_work() as session:
        city = City(
            id=new_id(), name=name, base_cost_points=100, base_duration_hours=Decimal(1),
            display_order=order, is_active=active,
        )  # fmt: skip
        session.add(city)
        return city.id


async def add_airship(world: B0World, name: str, order: int, *, active: bool = True) -> None:
    async with world.database.unit_of_work() as session:
        session.add(
            Airship(id=new_id(), name=name, cost_factor=Decimal(1), duration_factor=Decimal(1),
                    display_order=order, is_active=active)
        )  # fmt: skip


async def test_cities_are_ordered_paginated_and_active_only(b0: B0World, empty: None) -> None:
    for name, order in [("Cc", 3), ("Aa", 1), ("Dd", 4), ("Bb", 2), ("Ee", 5)]:
        await add_city(b0, name, order)
    closed = await add_city(b0, "Closed", 0, active=False)
    alice = await b0.traveller()
    listed = await all_pages(b0, "/cities", alice, limit=2)
    assert [c["name"] for c in listed] == ["Aa", "Bb", "Cc", "Dd", "Ee"]
    assert all(c["is_active"] for c in listed)
    one = await get(b0, f"/cities/{listed[0]['city_id']}", alice)
    assert one == listed[0]
    hidden = await b0.client.get(f"{API}/cities/{closed}", headers=alice.headers)
    assert_error(hidden, 404, "city_not_found")


async def test_airships_are_ordered_and_active_only(b0: B0World, empty: None) -> None:
    for name, order in [("Zephyr", 2), ("Albatross", 1), ("Condor", 3)]:
        await add_airship(b0, name, order)
    await add_airship(b0, "Grounded", 0, active=False)
    alice = await b0.traveller()
    listed = await all_pages(b0, "/airships", alice, limit=2)
    assert [a["name"] for a in listed] == ["Albatross", "Zephyr", "Condor"]
    async with b0.database.unit_of_work() as session:  # retiring one hides it at once
        retire = update(Airship).where(Airship.name == "Zephyr").values(is_active=False)
        await session.execute(retire)
    names = [a["name"] for a in await all_pages(b0, "/airships", alice, limit=10)]
    assert names == ["Albatross", "Condor"]
