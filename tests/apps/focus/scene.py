"""One Focus Mate world with a row of every kind, for the tests that call every route (the
auth matrix, the fuzzing): the owner and the people around her, and the ids the routes name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ensemble.apps.focus import app as focus_app
from ensemble.apps.focus.domain import NotificationKind
from ensemble.apps.focus.models import Role
from ensemble.apps.focus.notifications import service as notifications
from ensemble.kernel.db import Database
from tests.apicheck import snapshot, tables_of
from tests.apps.focus.conftest import API, FocusUser, FocusWorld
from tests.apps.focus.messaging import open_conversation, sent
from tests.apps.focus.roomkit import drive, join, open_room
from tests.apps.focus.test_community import comment, write
from tests.apps.focus.test_moderation import report

DEVICE = "owner-device-0001"


@dataclass(frozen=True)
class Scene:
    """`owner` owns a public room (timer running) and a private one, both with `member` in
    them; `banned` was kicked from the public room with a ban; `stranger` has no part in
    anything. The owner has a post with a comment, a report, a conversation with `member`
    holding a message, a notification, a device and an open focus session. `values` are the
    ids, named as in the routes (`user_id` is the member's)."""

    owner: FocusUser
    member: FocusUser
    stranger: FocusUser
    banned: FocusUser
    admin: FocusUser
    values: dict[str, str]


async def build_scene(focus: FocusWorld) -> Scene:
    owner, member, stranger, banned = [await focus.user() for _ in range(4)]
    admin = await focus.user(Role.ADMIN)

    room = (await open_room(focus, owner))["room_id"]
    private = await open_room(focus, owner, visibility="private")
    for room_id, code in ((room, None), (private["room_id"], private["join_code"])):
        assert (await join(focus, room_id, member, code)).status_code == 200
    assert (await join(focus, room, banned)).status_code == 200
    kicked = await focus.client.post(
        f"{API}/rooms/{room}/kick",
        json={"user_id": str(banned.user_id), "ban": True},
        headers=owner.headers,
    )
    assert kicked.status_code == 204, kicked.text
    started = await drive(focus, room, owner, "start")
    assert started.status_code == 200, started.text
    [session] = await _sessions_of(focus, owner)

    post = await write(focus, owner)
    reply = await comment(focus, owner, post["post_id"])
    reported = await report(focus, owner, "user", member.user_id)
    assert reported.status_code == 201, reported.text
    conversation = await open_conversation(focus, owner, member)
    message = await sent(focus, owner, conversation, "hello")
    device = await focus.client.post(
        f"{API}/devices", json={"token": DEVICE, "platform": "web"}, headers=owner.headers
    )
    assert device.status_code == 201, device.text
    notification = await _notify(focus, owner.user_id)
    values = {
        "room_id": room,
        "private_room_id": private["room_id"],
        "join_code": private["join_code"],
        "user_id": str(member.user_id),
        "owner_id": str(owner.user_id),
        "session_id": session["session_id"],
        "post_id": post["post_id"],
        "comment_id": reply["comment_id"],
        "report_id": reported.json()["report_id"],
        "target_id": str(member.user_id),
        "conversation_id": conversation,
        "message_id": message["message_id"],
        "notification_id": notification,
        "command": "pause",  # the timer is running
        "token": DEVICE,
        "refresh_token": owner.refresh_token,
    }
    return Scene(owner, member, stranger, banned, admin, values)


async def _sessions_of(focus: FocusWorld, user: FocusUser) -> list[dict[str, str]]:
    response = await focus.client.get(f"{API}/sessions/me", headers=user.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, str]] = response.json()["items"]
    return items


async def _notify(focus: FocusWorld, user_id: uuid.UUID) -> str:
    """A notification in the user's inbox, as the app's consumers put them there."""
    async with focus.database.unit_of_work() as session:
        notification = await notifications.notify(
            session,
            user_id,
            kind=NotificationKind.COMMUNITY.value,
            title="Someone commented",
            body="Nice",
            source=f"scene:{user_id}",
        )
    assert notification is not None
    return str(notification.id)


async def all_rows(database: Database) -> dict[str, list[str]]:
    """Every row a route could write (Focus Mate's, the accounts, the jobs and events it
    requests): equal snapshots mean nothing was written."""
    schemas = (*focus_app.schemas, "identity", "jobs", "events")
    return await snapshot(database, await tables_of(database, *schemas))
