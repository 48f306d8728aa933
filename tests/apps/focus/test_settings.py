"""Focus Mate settings: time zone, room defaults, notification choices, sound, presence."""

from __future__ import annotations

from typing import Any

import pytest

from ensemble.apps.focus.domain import Channel, NotificationKind, allows
from ensemble.apps.focus.models import UserSettings
from tests.apicheck import assert_error
from tests.apps.focus.community_support import focus_rows
from tests.apps.focus.conftest import API, FocusWorld

ALL_ON = {
    channel: dict.fromkeys(("message", "achievement", "room", "community"), True)
    for channel in ("in_app", "email", "push")
}


async def test_a_new_user_has_the_defaults(focus: FocusWorld) -> None:
    user = await focus.user()
    response = await focus.client.get(f"{API}/settings", headers=user.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    body.pop("updated_at")
    assert body == {
        "timezone": "UTC",
        "work_minutes": 25,
        "break_minutes": 5,
        "long_break_minutes": 15,
        "sound": True,
        "presence_visible": True,
        "notifications": ALL_ON,
    }


async def test_a_patch_changes_what_it_names_and_keeps_the_rest(focus: FocusWorld) -> None:
    user = await focus.user()
    first = await focus.client.patch(
        f"{API}/settings",
        json={
            "timezone": "Asia/Seoul",
            "work_minutes": 60,
            "sound": False,
            "notifications": {"email": {"achievement": False}},
        },
        headers=user.headers,
    )
    assert first.status_code == 200, first.text
    second = await focus.client.patch(
        f"{API}/settings",
        json={"break_minutes": 30, "notifications": {"email": {"message": False}}},
        headers=user.headers,
    )
    assert second.status_code == 200, second.text
    body = (await focus.client.get(f"{API}/settings", headers=user.headers)).json()
    assert body["timezone"] == "Asia/Seoul"
    assert (body["work_minutes"], body["break_minutes"], body["long_break_minutes"]) == (60, 30, 15)
    assert body["sound"] is False
    assert body["presence_visible"] is True
    assert body["notifications"]["email"] == {
        "message": False,
        "achievement": False,
        "room": True,
        "community": True,
    }
    assert body["notifications"]["in_app"] == ALL_ON["in_app"]
    async with focus.database.unit_of_work() as session:
        stored = await session.get(UserSettings, user.user_id)
        assert stored is not None
        wants = {
            kind: allows(stored.notifications, Channel.EMAIL, kind) for kind in NotificationKind
        }
        assert allows(stored.notifications, Channel.PUSH, NotificationKind.MESSAGE)
    assert wants == {
        NotificationKind.MESSAGE: False,
        NotificationKind.ACHIEVEMENT: False,
        NotificationKind.ROOM: True,
        NotificationKind.COMMUNITY: True,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": "../../etc/passwd"},
        {"timezone": ""},
        {"timezone": None},
        {"work_minutes": 0},
        {"work_minutes": 61},
        {"break_minutes": 31},
        {"long_break_minutes": 0},
        {"work_minutes": "25"},
        {"work_minutes": 25.0},
        {"sound": "yes"},
        {"sound": None},
        {"presence_visible": 1},
        {"notifications": {"fax": {"message": False}}},
        {"notifications": {"email": {"spam": False}}},
        {"notifications": {"email": {"message": "no"}}},
        {"notifications": None},
        {"theme": "dark"},
        {"timezone": "Asia/Seoul", "work_minutes": 0},
    ],
)
async def test_bad_settings_are_422_and_change_nothing(
    focus: FocusWorld, body: dict[str, Any]
) -> None:
    user = await focus.user()
    before = await focus_rows(focus.database)
    response = await focus.client.patch(f"{API}/settings", json=body, headers=user.headers)
    assert_error(response, 422, "validation_error")
    assert await focus_rows(focus.database) == before
