"""`GET /sessions/me` (newest first, cursor pages, `from`/`to`) and `PATCH /sessions/{id}`
(the goal while open, its done mark while open or after the end, the owner alone)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ensemble.apps.focus.models import FocusSession
from tests.apicheck import assert_error
from tests.apps.focus.conftest import API, FocusUser, FocusWorld
from tests.apps.focus.history import add_sessions, session_row
from tests.apps.focus.rows import add_room

START = datetime(2026, 5, 1, 9, tzinfo=UTC)


async def user_with_sessions(focus: FocusWorld, count: int) -> tuple[FocusUser, list[uuid.UUID]]:
    """A user with `count` closed sessions an hour apart from `START` (ids oldest first)."""
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    rows = [session_row(user.user_id, room, START + timedelta(hours=n)) for n in range(count)]
    return user, [row.id for row in await add_sessions(focus.database, *rows)]


async def one_session(
    focus: FocusWorld, *, ended: bool, goal: str | None = None
) -> tuple[FocusUser, FocusSession]:
    user = await focus.user()
    room = await add_room(focus.database, user.user_id)
    row = session_row(user.user_id, room, START, ended=ended, goal=goal)
    await add_sessions(focus.database, row)
    return user, row


async def listed(focus: FocusWorld, user: FocusUser, **params: Any) -> dict[str, Any]:
    response = await focus.client.get(f"{API}/sessions/me", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def patch(focus: FocusWorld, user: FocusUser, session_id: uuid.UUID, body: Any) -> Any:
    return await focus.client.patch(f"{API}/sessions/{session_id}", json=body, headers=user.headers)


# Listing


async def test_sessions_come_newest_first_page_by_page(focus: FocusWorld) -> None:
    user, ids = await user_with_sessions(focus, 5)
    await user_with_sessions(focus, 2)  # someone else's
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await listed(focus, user, **params)
        seen += [each["session_id"] for each in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(each) for each in reversed(ids)]


async def test_sessions_show_open_ones_and_their_fields(focus: FocusWorld) -> None:
    user, row = await one_session(focus, ended=False, goal="write the intro")
    [item] = (await listed(focus, user))["items"]
    assert item["session_id"] == str(row.id)
    assert item["room_id"] == str(row.room_id)
    assert item["ended_at"] is None
    assert item["completed"] is None
    assert (item["goal"], item["goal_done"]) == ("write the intro", None)


async def test_from_and_to_bound_the_start(focus: FocusWorld) -> None:
    user, ids = await user_with_sessions(focus, 5)
    since = (START + timedelta(hours=1)).isoformat()
    until = (START + timedelta(hours=3)).isoformat()
    page = await listed(focus, user, **{"from": since, "to": until})
    assert [each["session_id"] for each in page["items"]] == [str(ids[2]), str(ids[1])]
    page = await listed(focus, user, **{"from": since})
    assert len(page["items"]) == 4
    page = await listed(focus, user, **{"to": until})
    assert len(page["items"]) == 3


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-05-02T00:00:00Z", "to": "2026-05-01T00:00:00Z"}, "invalid_range"),
        ({"from": "yesterday"}, "validation_error"),
        ({"to": "2026-05-01T00:00:00"}, "validation_error"),  # no offset
        ({"from": "1714550400"}, "validation_error"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "WyJ4Il0"}, "invalid_cursor"),  # ["x"]: ours in shape, not in content
        ({"limit": 0}, "validation_error"),
        ({"limit": 101}, "validation_error"),
    ],
)
async def test_bad_listing_input_is_422(
    focus: FocusWorld, params: dict[str, Any], code: str
) -> None:
    user, _ = await user_with_sessions(focus, 1)
    response = await focus.client.get(f"{API}/sessions/me", params=params, headers=user.headers)
    assert_error(response, 422, code)


# Goal


async def test_the_goal_is_set_while_open_and_marked_after_the_end(focus: FocusWorld) -> None:
    user, row = await one_session(focus, ended=False)
    response = await patch(focus, user, row.id, {"goal": "  outline chapter 3  "})
    assert response.status_code == 200, response.text
    assert (response.json()["goal"], response.json()["goal_done"]) == ("outline chapter 3", None)
    response = await patch(focus, user, row.id, {"goal_done": True})
    assert response.json()["goal_done"] is True  # while open: done early
    async with focus.database.unit_of_work() as session:
        found = await session.get(FocusSession, row.id)
        assert found is not None
        found.ended_at, found.focus_seconds, found.completed = START, 1500, True
    response = await patch(focus, user, row.id, {"goal_done": False})
    assert response.status_code == 200
    assert response.json()["goal_done"] is False
    again = await patch(focus, user, row.id, {"goal_done": False})  # idempotent
    assert again.json() == response.json()


async def test_the_goal_of_an_ended_session_stays(focus: FocusWorld) -> None:
    user, row = await one_session(focus, ended=True, goal="read")
    assert_error(await patch(focus, user, row.id, {"goal": "write"}), 409, "session_ended")
    # the done mark in the same request is not written either
    both = await patch(focus, user, row.id, {"goal": "write", "goal_done": True})
    assert_error(both, 409, "session_ended")
    [item] = (await listed(focus, user))["items"]
    assert (item["goal"], item["goal_done"]) == ("read", None)


async def test_a_goal_must_exist_to_be_marked(focus: FocusWorld) -> None:
    user, row = await one_session(focus, ended=False, goal="plan")
    cleared = await patch(focus, user, row.id, {"goal": None, "goal_done": True})
    assert_error(cleared, 409, "goal_missing")
    [item] = (await listed(focus, user))["items"]
    assert item["goal"] == "plan"  # nothing written half-way
    assert (await patch(focus, user, row.id, {"goal": None})).json()["goal"] is None
    assert_error(await patch(focus, user, row.id, {"goal_done": True}), 409, "goal_missing")


async def test_concurrent_goal_edits_leave_one_of_them(focus: FocusWorld) -> None:
    user, row = await one_session(focus, ended=False)
    goals = [f"goal {n}" for n in range(10)]
    responses = await asyncio.gather(*(patch(focus, user, row.id, {"goal": g}) for g in goals))
    assert all(each.status_code == 200 for each in responses)
    [item] = (await listed(focus, user))["items"]
    assert item["goal"] in goals


async def test_another_users_session_is_404(focus: FocusWorld) -> None:
    owner, row = await one_session(focus, ended=False)
    stranger = await focus.user()
    assert_error(await patch(focus, stranger, row.id, {"goal": "mine"}), 404, "session_not_found")
    assert_error(await patch(focus, owner, uuid.uuid4(), {"goal": "x"}), 404, "session_not_found")
    [item] = (await listed(focus, owner))["items"]
    assert item["goal"] is None
    assert (await listed(focus, stranger))["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"goal": ""},
        {"goal": "   "},
        {"goal": "x" * 201},
        {"goal": "two\nlines"},
        {"goal": 42},
        {"goal_done": "yes"},
        {"goal_done": None},
        {"goal": "fine", "owner": "me"},
        [],
        "goal",
    ],
)
async def test_bad_goal_input_is_422(focus: FocusWorld, body: Any) -> None:
    user, row = await one_session(focus, ended=False)
    assert_error(await patch(focus, user, row.id, body), 422, "validation_error")


async def test_the_goal_holds_200_characters(focus: FocusWorld) -> None:
    user, row = await one_session(focus, ended=False)
    response = await patch(focus, user, row.id, {"goal": "é" * 200})
    assert response.status_code == 200
    assert response.json()["goal"] == "é" * 200


async def test_a_session_id_that_is_not_a_uuid_is_422(focus: FocusWorld) -> None:
    user = await focus.user()
    response = await focus.client.patch(
        f"{API}/sessions/42", json={"goal": "x"}, headers=user.headers
    )
    assert_error(response, 422, "validation_error")
