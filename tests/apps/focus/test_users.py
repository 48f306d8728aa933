"""Focus Mate users: the display name, a password change (other sessions end, the caller's
goes on), public profiles with focus totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.apicheck import assert_error, bearer
from tests.apps.focus.community_support import focus_rows, focus_session
from tests.apps.focus.conftest import API, PASSWORD, FocusWorld
from tests.apps.focus.rows import add_room

NEW_PASSWORD = "a brand new passphrase"


async def test_a_user_renames_itself(focus: FocusWorld) -> None:
    user = await focus.user()
    renamed = await focus.client.patch(
        f"{API}/users/me", json={"display_name": "Night Owl 🦉"}, headers=user.headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["display_name"] == "Night Owl 🦉"
    me = await focus.client.get(f"{API}/users/me", headers=user.headers)
    assert me.json()["display_name"] == "Night Owl 🦉"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"display_name": ""},
        {"display_name": "x" * 51},
        {"display_name": "tab\there"},
        {"display_name": None},
        {"display_name": 42},
        {"display_name": "ok", "role": "ADMIN"},
    ],
)
async def test_a_bad_rename_is_422_and_changes_nothing(
    focus: FocusWorld, body: dict[str, Any]
) -> None:
    user = await focus.user()
    before = await focus_rows(focus.database)
    response = await focus.client.patch(f"{API}/users/me", json=body, headers=user.headers)
    assert_error(response, 422, "validation_error")
    assert await focus_rows(focus.database) == before


async def test_a_password_change_ends_the_other_sessions_and_keeps_the_callers(
    focus: FocusWorld,
) -> None:
    user = await focus.user()  # the caller's session
    other = await focus.login(user.email)  # another device
    changed = await focus.client.patch(
        f"{API}/users/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=user.headers,
    )
    assert changed.status_code == 204, changed.text
    gone = await focus.client.get(f"{API}/users/me", headers=bearer(other["access_token"]))
    assert_error(gone, 401, "session_revoked")
    refreshed = await focus.client.post(
        f"{API}/auth/refresh", json={"refresh_token": other["refresh_token"]}
    )
    assert_error(refreshed, 401, "session_revoked")
    assert (await focus.client.get(f"{API}/users/me", headers=user.headers)).status_code == 200
    kept = await focus.client.post(
        f"{API}/auth/refresh", json={"refresh_token": user.refresh_token}
    )
    assert kept.status_code == 200, kept.text
    old = await focus.client.post(
        f"{API}/auth/login", json={"email": user.email, "password": PASSWORD}
    )
    assert_error(old, 401, "invalid_credentials")
    await focus.login(user.email, NEW_PASSWORD)


async def test_a_wrong_current_password_is_403_and_changes_nothing(focus: FocusWorld) -> None:
    user = await focus.user()
    other = await focus.login(user.email)
    wrong = await focus.client.patch(
        f"{API}/users/me/password",
        json={"current_password": "not the password", "new_password": NEW_PASSWORD},
        headers=user.headers,
    )
    assert_error(wrong, 403, "wrong_password")
    assert (
        await focus.client.get(f"{API}/users/me", headers=bearer(other["access_token"]))
    ).status_code == 200
    await focus.login(user.email)  # the old password still works


async def test_wrong_current_passwords_are_throttled_even_before_the_right_one(
    focus: FocusWorld,
) -> None:
    user = await focus.user()
    url = f"{API}/users/me/password"
    for _ in range(focus.settings.login_max_failures):
        wrong = await focus.client.patch(
            url,
            json={"current_password": "guess", "new_password": NEW_PASSWORD},
            headers=user.headers,
        )
        assert_error(wrong, 403, "wrong_password")
    right = await focus.client.patch(
        url, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=user.headers
    )
    assert_error(right, 429, "password_throttled")
    await focus.login(user.email)  # unchanged


@pytest.mark.parametrize(
    "body",
    [
        {"current_password": PASSWORD},
        {"current_password": PASSWORD, "new_password": "short"},
        {"current_password": PASSWORD, "new_password": "x" * 129},
        {"current_password": "", "new_password": NEW_PASSWORD},
        {"current_password": PASSWORD, "new_password": 12345678},
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "email": "a@b.c"},
    ],
)
async def test_a_bad_password_change_is_422_and_changes_nothing(
    focus: FocusWorld, body: dict[str, Any]
) -> None:
    user = await focus.user()
    before = await focus_rows(focus.database)
    response = await focus.client.patch(f"{API}/users/me/password", json=body, headers=user.headers)
    assert_error(response, 422, "validation_error")
    assert await focus_rows(focus.database) == before


async def test_a_profile_shows_the_name_and_focus_totals(focus: FocusWorld) -> None:
    owner, viewer = await focus.user(), await focus.user()
    room = await add_room(focus.database, owner.user_id)
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    phases = [(1500, True), (1490, True), (300, False), (None, None)]  # the last still open
    for hour, (seconds, completed) in enumerate(phases):
        at = start + timedelta(hours=hour)
        await focus_session(
            focus.database, owner.user_id, room, at, focus_seconds=seconds, completed=completed
        )
    await focus_session(
        focus.database, viewer.user_id, room, start, focus_seconds=1500, completed=True
    )
    response = await focus.client.get(
        f"{API}/users/{owner.user_id}/profile", headers=viewer.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"user_id", "display_name", "member_since", "focus_minutes", "sessions"}
    assert body["user_id"] == str(owner.user_id)
    assert body["display_name"] == owner.email.split("@")[0]
    assert body["focus_minutes"] == (1500 + 1490 + 300) // 60
    assert body["sessions"] == 2


async def test_a_new_users_profile_has_zero_totals(focus: FocusWorld) -> None:
    user = await focus.user()
    body = (
        await focus.client.get(f"{API}/users/{user.user_id}/profile", headers=user.headers)
    ).json()
    assert (body["focus_minutes"], body["sessions"]) == (0, 0)


@pytest.mark.parametrize(
    ("user_id", "status", "code"),
    [
        ("0190a000-0000-7000-8000-000000000000", 404, "user_not_found"),
        ("not-a-uuid", 422, "validation_error"),
    ],
)
async def test_an_unknown_profile_is_an_error(
    focus: FocusWorld, user_id: str, status: int, code: str
) -> None:
    user = await focus.user()
    response = await focus.client.get(f"{API}/users/{user_id}/profile", headers=user.headers)
    assert_error(response, status, code)
