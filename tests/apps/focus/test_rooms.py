"""Rooms and membership through the API: creation bounds and defaults, lists, settings, the
join code, exact capacity under concurrent joins, bans, ownership passing on, deletion and
moderation, and who may do what."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, text

from ensemble.apps.focus.models import FocusSession, Member, Role, Room
from ensemble.kernel.events.models import OutboxEvent
from ensemble.kernel.pagination import encode_cursor
from tests.apicheck import assert_error
from tests.apps.focus.conftest import API, FocusWorld
from tests.apps.focus.roomkit import drive, join, listening, open_room


async def _count(focus: FocusWorld, stmt: Any) -> int:
    async with focus.database.unit_of_work() as session:
        return int(await session.scalar(stmt) or 0)


# Creating


async def test_a_new_room_takes_the_creators_durations_and_the_defaults(
    focus: FocusWorld,
) -> None:
    owner = await focus.user()
    async with focus.database.unit_of_work() as session:
        await session.execute(
            text(
                "UPDATE focus.user_settings SET work_minutes = 50, break_minutes = 10"
                " WHERE account_id = :id"
            ),
            {"id": owner.user_id},
        )
    room = await open_room(focus, owner, long_break_minutes=20)
    assert (room["work_minutes"], room["break_minutes"], room["long_break_minutes"]) == (50, 10, 20)
    assert room["long_break_every"] == 4
    assert room["max_participants"] == 50
    assert (room["visibility"], room["control"], room["auto_start_breaks"]) == (
        "public",
        "owner",
        True,
    )
    assert room["owner_id"] == str(owner.user_id)
    assert room["member_count"] == 1
    assert room["join_code"] is None
    created = (
        select(func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.type == "focus.RoomCreated", OutboxEvent.aggregate_id == room["room_id"])
    )
    assert await _count(focus, created) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ab"},
        {"name": "x" * 51},
        {"name": " padded "},
        {"name": "bad\x00name"},
        {"name": "Room", "work_minutes": 0},
        {"name": "Room", "work_minutes": 61},
        {"name": "Room", "break_minutes": 31},
        {"name": "Room", "long_break_minutes": 61},
        {"name": "Room", "long_break_every": -1},
        {"name": "Room", "max_participants": 1},
        {"name": "Room", "max_participants": 1001},
        {"name": "Room", "work_minutes": "25"},
        {"name": "Room", "visibility": "secret"},
        {"name": "Room", "control": "anyone"},
        {"name": "Room", "owner_id": str(uuid.uuid4())},
        {},
    ],
)
async def test_invalid_rooms_are_422_and_nothing_is_written(
    focus: FocusWorld, body: dict[str, Any]
) -> None:
    owner = await focus.user()
    response = await focus.client.post(f"{API}/rooms", json=body, headers=owner.headers)
    assert_error(response, 422, "validation_error")
    assert await _count(focus, select(func.count()).select_from(Room)) == 0


async def test_a_private_room_has_a_join_code_only_its_people_see(focus: FocusWorld) -> None:
    owner, member, stranger = await focus.user(), await focus.user(), await focus.user()
    room = await open_room(focus, owner, visibility="private")
    code = room["join_code"]
    assert isinstance(code, str)
    assert len(code) == 8
    url = f"{API}/rooms/{room['room_id']}"
    assert_error(await focus.client.get(url, headers=stranger.headers), 404, "room_not_found")
    assert_error(await join(focus, room["room_id"], stranger), 403, "invalid_join_code")
    assert_error(await join(focus, room["room_id"], stranger, "WRONGCOD"), 403, "invalid_join_code")
    assert (await join(focus, room["room_id"], member, code.lower())).status_code == 200
    seen = await focus.client.get(url, headers=member.headers)
    assert seen.json()["join_code"] == code


async def test_the_owner_rotates_the_join_code(focus: FocusWorld) -> None:
    owner, late, member = await focus.user(), await focus.user(), await focus.user()
    room = await open_room(focus, owner, visibility="private")
    url = f"{API}/rooms/{room['room_id']}/join-code"
    await join(focus, room["room_id"], member, room["join_code"])
    assert_error(await focus.client.post(url, headers=member.headers), 403, "not_owner")
    rotated = await focus.client.post(url, headers=owner.headers)
    assert rotated.status_code == 200
    new_code = rotated.json()["join_code"]
    assert new_code != room["join_code"]
    assert_error(await join(focus, room["room_id"], late, room["join_code"]), 403)
    assert (await join(focus, room["room_id"], late, new_code)).status_code == 200
    public = await open_room(focus, owner)
    rotate_public = f"{API}/rooms/{public['room_id']}/join-code"
    assert_error(await focus.client.post(rotate_public, headers=owner.headers), 409)


# Listing


async def test_lists_filter_public_mine_and_names_page_by_page(focus: FocusWorld) -> None:
    alice, bob = await focus.user(), await focus.user()
    mine_public = await open_room(focus, alice, name="Alice reads")
    mine_private = await open_room(focus, alice, name="Alice writes", visibility="private")
    bobs_public = await open_room(focus, bob, name="Bob codes")
    bobs_private = await open_room(focus, bob, name="Bob sleeps", visibility="private")

    async def names(**params: Any) -> list[str]:
        collected, cursor = [], None
        while True:
            query = {**params, "limit": 1, **({"cursor": cursor} if cursor else {})}
            page = await focus.client.get(f"{API}/rooms", params=query, headers=alice.headers)
            assert page.status_code == 200, page.text
            collected += [room["name"] for room in page.json()["items"]]
            if (cursor := page.json()["next_cursor"]) is None:
                return collected

    assert await names() == ["Bob codes", "Alice writes", "Alice reads"]
    assert await names(public="true") == ["Bob codes", "Alice reads"]
    assert await names(public="false") == ["Alice writes"]
    assert await names(mine="true") == ["Alice writes", "Alice reads"]
    assert await names(q="bob") == ["Bob codes"]
    assert await names(q="%") == []
    await join(focus, bobs_private["room_id"], alice, bobs_private["join_code"])
    assert await names(mine="true", public="false") == ["Bob sleeps", "Alice writes"]
    assert {mine_public["room_id"], mine_private["room_id"], bobs_public["room_id"]}
    bad = await focus.client.get(f"{API}/rooms", params={"cursor": "x"}, headers=alice.headers)
    assert_error(bad, 422, "invalid_cursor")


async def test_archived_rooms_leave_the_lists_but_not_mine_and_a_join_revives_them(
    focus: FocusWorld,
) -> None:
    owner, visitor = await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    async with focus.database.unit_of_work() as session:
        await session.execute(
            text("UPDATE focus.rooms SET archived_at = now() WHERE id = :id"),
            {"id": uuid.UUID(room["room_id"])},
        )
    listed = await focus.client.get(f"{API}/rooms", headers=visitor.headers)
    assert listed.json()["items"] == []
    mine = await focus.client.get(f"{API}/rooms", params={"mine": "true"}, headers=owner.headers)
    assert [r["room_id"] for r in mine.json()["items"]] == [room["room_id"]]
    assert (await join(focus, room["room_id"], visitor)).status_code == 200
    listed = await focus.client.get(f"{API}/rooms", headers=visitor.headers)
    assert [r["archived_at"] for r in listed.json()["items"]] == [None]


# Settings


async def test_only_the_owner_changes_settings_and_the_room_hears_it(
    focus: FocusWorld, redis: Redis
) -> None:
    owner, member = await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    await join(focus, room["room_id"], member)
    url = f"{API}/rooms/{room['room_id']}"
    assert_error(
        await focus.client.patch(url, json={"name": "Mine"}, headers=member.headers),
        403,
        "not_owner",
    )
    async with listening(redis, room["room_id"]) as room_channel:
        changed = await focus.client.patch(
            url, json={"name": "Quiet room", "visibility": "private"}, headers=owner.headers
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["name"] == "Quiet room"
        assert changed.json()["join_code"]
        message = await room_channel.next()
    assert message["type"] == "room_updated"
    assert message["room"]["name"] == "Quiet room"
    assert message["room"]["join_code"] is None, "the code never goes on the wire"
    assert isinstance(message["seq"], int)
    public = await focus.client.patch(url, json={"visibility": "public"}, headers=owner.headers)
    assert public.json()["join_code"] is None


@pytest.mark.parametrize(
    "body", [{"name": None}, {"work_minutes": 0}, {"max_participants": 5000}, {"nope": 1}]
)
async def test_invalid_settings_are_422(focus: FocusWorld, body: dict[str, Any]) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner)
    response = await focus.client.patch(
        f"{API}/rooms/{room['room_id']}", json=body, headers=owner.headers
    )
    assert_error(response, 422, "validation_error")


async def test_seats_cannot_drop_below_the_participants(focus: FocusWorld) -> None:
    owner, *others = [await focus.user() for _ in range(3)]
    room = await open_room(focus, owner)
    for other in others:
        await join(focus, room["room_id"], other)
    url = f"{API}/rooms/{room['room_id']}"
    refused = await focus.client.patch(url, json={"max_participants": 2}, headers=owner.headers)
    error = assert_error(refused, 409, "capacity_below_members")
    assert error["details"] == {"member_count": 3}
    assert (
        await focus.client.patch(url, json={"max_participants": 3}, headers=owner.headers)
    ).status_code == 200


# Joining and leaving


async def test_concurrent_joins_fill_exactly_the_free_seats(focus: FocusWorld) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner, max_participants=5)
    joiners = [await focus.user() for _ in range(12)]
    answers = await asyncio.gather(*(join(focus, room["room_id"], user) for user in joiners))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 4 + [409] * 8
    for answer in answers:
        if answer.status_code == 409:
            assert_error(answer, 409, "room_full")
    room_id = uuid.UUID(room["room_id"])
    members = select(func.count()).select_from(Member).where(Member.room_id == room_id)
    assert await _count(focus, members) == 5
    assert await _count(focus, select(Room.member_count).where(Room.id == room_id)) == 5


async def test_joining_twice_at_once_is_one_membership(focus: FocusWorld) -> None:
    owner, user = await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    answers = await asyncio.gather(*(join(focus, room["room_id"], user) for _ in range(4)))
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.json()["joined_at"] for answer in answers}) == 1
    room_id = uuid.UUID(room["room_id"])
    assert await _count(focus, select(Room.member_count).where(Room.id == room_id)) == 2


async def test_joins_and_leaves_are_told_to_the_room(focus: FocusWorld, redis: Redis) -> None:
    owner, user = await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    async with listening(redis, room["room_id"]) as room_channel:
        await join(focus, room["room_id"], user)
        joined = await room_channel.next()
        left_response = await focus.client.post(
            f"{API}/rooms/{room['room_id']}/leave", headers=user.headers
        )
        assert left_response.status_code == 204
        left = await room_channel.next(lambda m: m["type"] == "participant_left")
        closed = await room_channel.next()
    assert (joined["type"], joined["user_id"], joined["member_count"]) == (
        "participant_joined",
        str(user.user_id),
        2,
    )
    assert (left["user_id"], left["member_count"], left["reason"]) == (str(user.user_id), 1, "left")
    assert left["seq"] == joined["seq"] + 1
    assert (closed["type"], closed["member_id"], closed["code"]) == (
        "_hub.disconnect",
        str(user.user_id),
        4403,
    )


async def test_leaving_twice_changes_nothing_more(focus: FocusWorld) -> None:
    owner, user = await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    await join(focus, room["room_id"], user)
    url = f"{API}/rooms/{room['room_id']}/leave"
    answers = [await focus.client.post(url, headers=user.headers) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [204, 204]
    room_id = uuid.UUID(room["room_id"])
    assert await _count(focus, select(Room.member_count).where(Room.id == room_id)) == 1


async def test_when_the_owner_leaves_the_longest_present_owns_the_room(focus: FocusWorld) -> None:
    owner, first, second = await focus.user(), await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    await join(focus, room["room_id"], first)
    await join(focus, room["room_id"], second)
    url = f"{API}/rooms/{room['room_id']}"
    await focus.client.post(f"{url}/leave", headers=owner.headers)
    assert (await focus.client.get(url, headers=second.headers)).json()["owner_id"] == str(
        first.user_id
    )
    await focus.client.post(f"{url}/leave", headers=first.headers)
    await focus.client.post(f"{url}/leave", headers=second.headers)
    empty = (await focus.client.get(url, headers=second.headers)).json()
    assert (empty["owner_id"], empty["member_count"]) == (str(second.user_id), 0)


async def test_transfer_hands_the_room_to_a_participant(focus: FocusWorld) -> None:
    owner, member, stranger = await focus.user(), await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    await join(focus, room["room_id"], member)
    url = f"{API}/rooms/{room['room_id']}/transfer"
    to_stranger = {"user_id": str(stranger.user_id)}
    assert_error(
        await focus.client.post(url, json=to_stranger, headers=owner.headers),
        404,
        "participant_not_found",
    )
    to_member = {"user_id": str(member.user_id)}
    assert_error(
        await focus.client.post(url, json=to_member, headers=stranger.headers), 403, "not_owner"
    )
    assert_error(await focus.client.post(url, json={"user_id": "x"}, headers=owner.headers), 422)
    moved = await focus.client.post(url, json=to_member, headers=owner.headers)
    assert moved.json()["owner_id"] == str(member.user_id)
    assert_error(
        await focus.client.post(url, json=to_member, headers=owner.headers), 403, "not_owner"
    )


async def test_a_kicked_and_banned_user_cannot_come_back(focus: FocusWorld, redis: Redis) -> None:
    owner, member, other = await focus.user(), await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    await join(focus, room["room_id"], member)
    await join(focus, room["room_id"], other)
    url = f"{API}/rooms/{room['room_id']}/kick"
    kick = {"user_id": str(member.user_id), "ban": True}
    assert_error(await focus.client.post(url, json=kick, headers=other.headers), 403, "not_owner")
    async with listening(redis, room["room_id"]) as room_channel:
        assert (await focus.client.post(url, json=kick, headers=owner.headers)).status_code == 204
        left = await room_channel.next()
        closed = await room_channel.next()
    assert (left["type"], left["reason"]) == ("participant_left", "kicked")
    assert (closed["member_id"], closed["reason"]) == (str(member.user_id), "kicked")
    assert_error(await join(focus, room["room_id"], member), 403, "banned")
    again = await focus.client.post(url, json=kick, headers=owner.headers)
    assert again.status_code == 204, "banning twice is one ban"
    plain = {"user_id": str(uuid.uuid4())}
    assert_error(
        await focus.client.post(url, json=plain, headers=owner.headers),
        404,
        "participant_not_found",
    )
    itself = {"user_id": str(owner.user_id)}
    assert_error(
        await focus.client.post(url, json=itself, headers=owner.headers),
        409,
        "cannot_kick_yourself",
    )
    kicked_only = {"user_id": str(other.user_id)}
    await focus.client.post(url, json=kicked_only, headers=owner.headers)
    assert (await join(focus, room["room_id"], other)).status_code == 200, "a kick without ban"


async def test_participants_are_for_participants_longest_present_first(focus: FocusWorld) -> None:
    owner, member, stranger = await focus.user(), await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    await join(focus, room["room_id"], member)
    url = f"{API}/rooms/{room['room_id']}/participants"
    assert_error(await focus.client.get(url, headers=stranger.headers), 403, "not_a_member")
    first = await focus.client.get(url, params={"limit": 1}, headers=member.headers)
    cursor = first.json()["next_cursor"]
    second = await focus.client.get(
        url, params={"limit": 1, "cursor": cursor}, headers=member.headers
    )
    people = first.json()["items"] + second.json()["items"]
    assert [(p["user_id"], p["is_owner"]) for p in people] == [
        (str(owner.user_id), True),
        (str(member.user_id), False),
    ]
    assert people[0]["display_name"] == owner.email.split("@")[0]
    assert second.json()["next_cursor"] is None


# Deleting and moderation


async def test_deleting_ends_sessions_tells_and_closes_sockets_and_keeps_history(
    focus: FocusWorld, redis: Redis
) -> None:
    owner, member = await focus.user(), await focus.user()
    room = await open_room(focus, owner)
    await join(focus, room["room_id"], member)
    await drive(focus, room["room_id"], owner, "start")
    url = f"{API}/rooms/{room['room_id']}"
    assert_error(await focus.client.delete(url, headers=member.headers), 403, "not_owner")
    async with listening(redis, room["room_id"]) as room_channel:
        assert (await focus.client.delete(url, headers=owner.headers)).status_code == 204
        deleted = await room_channel.next()
        closes = [await room_channel.next() for _ in range(2)]
    assert deleted["type"] == "room_deleted"
    assert {(c["member_id"], c["code"], c["reason"]) for c in closes} == {
        (str(owner.user_id), 4404, "room_deleted"),
        (str(member.user_id), 4404, "room_deleted"),
    }
    assert_error(await focus.client.get(url, headers=owner.headers), 404, "room_not_found")
    assert_error(await focus.client.delete(url, headers=owner.headers), 404, "room_not_found")
    assert_error(await join(focus, room["room_id"], await focus.user()), 404, "room_not_found")
    room_id = uuid.UUID(room["room_id"])
    async with focus.database.unit_of_work() as session:
        kept = await session.get(Room, room_id)
        sessions = (
            await session.scalars(select(FocusSession).where(FocusSession.room_id == room_id))
        ).all()
    assert kept is not None
    assert kept.deleted_by == owner.user_id
    assert {(s.user_id, s.interrupted_reason, s.completed) for s in sessions} == {
        (owner.user_id, "room_deleted", False),
        (member.user_id, "room_deleted", False),
    }


async def test_moderators_close_rooms_and_remove_participants(focus: FocusWorld) -> None:
    owner, member, moderator = (
        await focus.user(),
        await focus.user(),
        await focus.user(Role.MODERATOR),
    )
    room = await open_room(focus, owner)
    await join(focus, room["room_id"], member)
    remove = f"{API}/admin/rooms/{room['room_id']}/participants/{member.user_id}"
    close = f"{API}/admin/rooms/{room['room_id']}/close"
    assert_error(await focus.client.delete(remove, headers=owner.headers), 403, "role_forbidden")
    assert_error(await focus.client.post(close, headers=owner.headers), 403, "role_forbidden")
    assert (await focus.client.delete(remove, headers=moderator.headers)).status_code == 204
    assert_error(
        await focus.client.delete(remove, headers=moderator.headers), 404, "participant_not_found"
    )
    assert (await focus.client.post(close, headers=moderator.headers)).status_code == 204
    assert_error(await focus.client.post(close, headers=moderator.headers), 404, "room_not_found")
    async with focus.database.unit_of_work() as session:
        closed = await session.get(Room, uuid.UUID(room["room_id"]))
    assert closed is not None
    assert closed.deleted_by == moderator.user_id


ROOM_ROUTES = [
    ("GET", "/rooms/{id}"),
    ("PATCH", "/rooms/{id}"),
    ("DELETE", "/rooms/{id}"),
    ("POST", "/rooms/{id}/join-code"),
    ("POST", "/rooms/{id}/join"),
    ("POST", "/rooms/{id}/leave"),
    ("POST", "/rooms/{id}/transfer"),
    ("POST", "/rooms/{id}/kick"),
    ("GET", "/rooms/{id}/participants"),
    ("POST", "/admin/rooms/{id}/close"),
    ("DELETE", "/admin/rooms/{id}/participants/{id}"),
    ("POST", "/rooms/{id}/timer/start"),
    ("GET", "/rooms/{id}/timer"),
]


@pytest.mark.parametrize(("method", "path"), ROOM_ROUTES)
async def test_a_missing_room_is_404(focus: FocusWorld, method: str, path: str) -> None:
    user = await focus.user(Role.ADMIN)
    url = API + path.replace("{id}", str(uuid.uuid4()))
    bodies = {"transfer": {"user_id": str(user.user_id)}, "kick": {"user_id": str(user.user_id)}}
    body = bodies.get(path.rsplit("/", 1)[-1], {} if method == "PATCH" else None)
    assert_error(await focus.client.request(method, url, json=body, headers=user.headers), 404)


NUL = "a\u0000b"


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        ("POST", "/rooms", {"name": "\u0000ab"}, None),
        ("POST", "/rooms", {"name": f"Room {NUL}"}, None),
        ("GET", "/rooms", None, {"q": NUL}),
        ("POST", "/rooms/{id}/join", {"join_code": NUL}, None),
        ("POST", "/rooms/{id}/join", {"join_code": 12345678}, None),
        ("GET", "/rooms", None, {"cursor": encode_cursor(["not-a-uuid"])}),
        (
            "GET",
            "/rooms/{id}/participants",
            None,
            {"cursor": encode_cursor(["9999-12-31T23:59:59-14:00", str(uuid.uuid4())])},
        ),
        ("POST", "/rooms/{id}/kick", {"user_id": NUL}, None),
        ("POST", "/rooms/{id}/kick", {"user_id": str(uuid.uuid4()), "ban": "yes"}, None),
    ],
)
async def test_values_postgres_would_refuse_are_4xx(
    focus: FocusWorld, method: str, path: str, body: Any, params: dict[str, str] | None
) -> None:
    owner = await focus.user()
    room = await open_room(focus, owner, visibility="private")
    url = API + path.replace("{id}", room["room_id"])
    other = await focus.user()
    caller = other if path.endswith("/join") else owner
    response = await focus.client.request(
        method, url, json=body, params=params, headers=caller.headers
    )
    assert_error(response, 422)
