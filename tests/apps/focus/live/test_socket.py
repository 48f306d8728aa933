"""The room socket on a real server: the snapshot first, numbered messages without gaps,
clock sync, chat, bad frames and who may connect. Real WebSockets, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, func, select, update

from ensemble.apps.focus.events import room_channel
from ensemble.apps.focus.live.models import RoomMessage
from ensemble.apps.focus.models import Ban, Member, Room, Timer
from ensemble.kernel.db import Database, new_id, utcnow
from ensemble.kernel.identity.principal import codec_for
from ensemble.kernel.realtime import Publisher
from ensemble.settings import Settings
from tests.apicheck import assert_error
from tests.apps.focus.conftest import FocusUser, FocusWorld
from tests.apps.focus.live.support import (
    Frame,
    focus_served,
    is_type,
    live,
    refused,
    room_url,
    room_with,
)

Numbered = Callable[[Frame], bool]


@pytest.fixture(scope="module")
async def ws_base(settings: Settings, database: Database) -> AsyncIterator[str]:
    async with focus_served(settings, database, presence_coalesce_ms=50) as base:
        yield base


@dataclasses.dataclass(frozen=True)
class Trio:
    room_id: uuid.UUID
    owner: FocusUser
    alice: FocusUser
    bob: FocusUser


@pytest.fixture
async def trio(focus: FocusWorld) -> Trio:
    owner, alice, bob = await asyncio.gather(focus.user(), focus.user(), focus.user())
    return Trio(await room_with(focus.database, owner, [alice, bob]), owner, alice, bob)


def url(ws_base: str, trio: Trio, who: FocusUser, **kw: bool) -> str:
    return room_url(ws_base, trio.room_id, who.access_token, **kw)


def as_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


# The snapshot


async def test_the_first_frame_is_a_full_snapshot(ws_base: str, trio: Trio) -> None:
    async with live(url(ws_base, trio, trio.alice)) as alice:
        state = alice.state
    assert set(state) == {"type", "seq", "room", "timer", "participants", "server_now"}
    assert state["room"] == {
        "room_id": str(trio.room_id),
        "name": "Deep work",
        "owner_id": str(trio.owner.user_id),
        "settings": {
            "work_minutes": 25,
            "break_minutes": 5,
            "long_break_minutes": 15,
            "long_break_every": 4,
            "max_participants": 50,
            "visibility": "public",
            "control": "owner",
            "auto_start_breaks": True,
        },
    }
    timer = state["timer"]
    assert {k: timer[k] for k in ("room_id", "state", "phase", "version")} == {
        "room_id": str(trio.room_id),
        "state": "idle",
        "phase": "work",
        "version": 0,
    }
    assert set(timer) == {
        "room_id",
        "version",
        "state",
        "phase",
        "phase_started_at",
        "phase_ends_at",
        "paused_remaining_ms",
        "completed_work_phases",
        "server_now",
    }
    assert abs(as_time(timer["server_now"]) - utcnow()) < timedelta(seconds=30)
    statuses = {p["user_id"]: p["status"] for p in state["participants"]}
    assert statuses == {
        str(trio.owner.user_id): "offline",
        str(trio.alice.user_id): "online",  # herself: present before the snapshot is read
        str(trio.bob.user_id): "offline",
    }
    assert all(p["display_name"] and p["joined_at"] for p in state["participants"])
    assert isinstance(state["seq"], int)


async def test_the_seed_path_is_the_same_socket(ws_base: str, trio: Trio) -> None:
    async with live(url(ws_base, trio, trio.alice, seed_path=True)) as alice:
        assert alice.state["room"]["room_id"] == str(trio.room_id)
        await alice.send(type="ping", t0=1)
        assert (await alice.next_of(is_type("pong")))["t0"] == 1


async def test_the_snapshot_shows_a_timer_phase_that_ended_on_time(
    ws_base: str, trio: Trio, database: Database
) -> None:
    """No job advanced the row: the snapshot computes the current phase from timestamps."""
    started = utcnow() - timedelta(minutes=26)
    async with database.unit_of_work() as session:
        await session.execute(
            update(Timer)
            .where(Timer.room_id == trio.room_id)
            .values(
                state="running",
                phase="work",
                phase_started_at=started,
                phase_ends_at=started + timedelta(minutes=25),
                version=3,
            )
        )
    async with live(url(ws_base, trio, trio.alice)) as alice:
        timer = alice.state["timer"]
    assert (timer["state"], timer["phase"], timer["version"]) == ("running", "short_break", 4)
    assert as_time(timer["phase_started_at"]) == started + timedelta(minutes=25)
    assert timer["completed_work_phases"] == 1


# Numbering


async def test_every_room_message_is_numbered_without_gaps(ws_base: str, trio: Trio) -> None:
    async with (
        live(url(ws_base, trio, trio.alice)) as alice,
        live(url(ws_base, trio, trio.bob)) as bob,
    ):
        lines = [f"line {i}" for i in range(20)]
        await asyncio.gather(*(alice.send(type="chat", text=line) for line in lines))
        for client in (alice, bob):
            first = client.state["seq"] + 1

            def news(frame: Frame, first: int = first) -> bool:
                """A message the snapshot did not include (an earlier one may follow it)."""
                return bool(frame.get("seq", 0) >= first)

            seen: list[Frame] = []
            while len([f for f in seen if f["type"] == "chat_message"]) < len(lines):
                seen.append(await client.next_of(news))
            numbers = [frame["seq"] for frame in seen]
            assert numbers == list(range(first, first + len(numbers))), numbers
            assert sorted(f["text"] for f in seen if f["type"] == "chat_message") == sorted(lines)


async def test_sync_after_a_gap_gives_a_fresh_snapshot(
    ws_base: str, trio: Trio, redis: Redis
) -> None:
    publisher = Publisher(redis)
    channel = room_channel(trio.room_id)
    async with live(url(ws_base, trio, trio.alice)) as alice:
        await alice.send(type="chat", text="before")
        before = await alice.next_of(is_type("chat_message"))
        lost = await publisher.publish_numbered("elsewhere", {"type": "x"})  # not the room
        assert lost >= 1
        await redis.incr(f"ensemble:realtime:seq:{channel}")  # a message this client missed
        await alice.send(type="chat", text="after")
        after = await alice.next_of(is_type("chat_message"))
        assert after["seq"] > before["seq"] + 1, "the client sees a gap"
        published = await publisher.last_number(channel)
        await alice.send(type="sync")
        fresh = await alice.next_of(is_type("room_state"))
        # as new as every message published before the sync (presence may publish more
        # meanwhile, so the room's number may have moved on since)
        assert published <= fresh["seq"] <= await publisher.last_number(channel)
        assert {p["user_id"] for p in fresh["participants"]} == {
            str(u.user_id) for u in (trio.owner, trio.alice, trio.bob)
        }
        await alice.send(type="sync")  # twice: the same state again
        again = await alice.next_of(is_type("room_state"))
        assert {k: again[k] for k in ("seq", "room", "participants")} == {
            k: fresh[k] for k in ("seq", "room", "participants")
        }


# Clock sync


async def test_ping_is_answered_with_the_servers_receive_and_send_times(
    ws_base: str, trio: Trio
) -> None:
    async with live(url(ws_base, trio, trio.alice)) as alice:
        for t0 in (time.time() * 1000, 12, 1.5):
            before = int(time.time() * 1000)
            await alice.send(type="ping", t0=t0)
            pong = await alice.next_of(is_type("pong"))
            after = int(time.time() * 1000)
            assert set(pong) == {"type", "t0", "t1", "t2"}
            assert pong["t0"] == t0
            assert before <= pong["t1"] <= pong["t2"] <= after + 1


# Bad frames


BAD_FRAMES: list[tuple[str | dict[str, object], str]] = [
    ("not json", "invalid_message"),
    ("[1, 2]", "invalid_message"),
    ({"no": "type"}, "unknown_type"),
    ({"type": "dance"}, "unknown_type"),
    ({"type": 5}, "unknown_type"),
    ({"type": "ping"}, "invalid_ping"),
    ({"type": "ping", "t0": "now"}, "invalid_ping"),
    ({"type": "ping", "t0": True}, "invalid_ping"),
    ({"type": "presence", "status": "offline"}, "invalid_presence"),
    ({"type": "presence", "status": None}, "invalid_presence"),
    ({"type": "presence"}, "invalid_presence"),
    ({"type": "chat"}, "invalid_chat"),
    ({"type": "chat", "text": ""}, "invalid_chat"),
    ({"type": "chat", "text": "   \n"}, "invalid_chat"),
    ({"type": "chat", "text": "x" * 1001}, "invalid_chat"),
    ({"type": "chat", "text": 42}, "invalid_chat"),
    ({"type": "chat", "text": ["hi"]}, "invalid_chat"),
    ({"type": "chat", "text": "a\u0000b"}, "invalid_chat"),
]


async def test_bad_frames_are_answered_with_an_error_and_the_socket_stays(
    ws_base: str, trio: Trio, database: Database
) -> None:
    async with live(url(ws_base, trio, trio.alice)) as alice:
        for frame, code in BAD_FRAMES:
            await alice.connection.send(frame if isinstance(frame, str) else json.dumps(frame))
            assert await alice.next_of(lambda f: f["type"] in {"error", "chat_message"}) == {
                "type": "error",
                "code": code,
            }, frame
        await alice.send(type="chat", text="y" * 1000)  # the longest line there may be
        kept = await alice.next_of(is_type("chat_message"))
        assert kept["text"] == "y" * 1000
    async with database.unit_of_work() as session:
        texts = (await session.scalars(select(RoomMessage.text))).all()
    assert texts == ["y" * 1000], "nothing invalid was kept"


# Chat


async def test_chat_is_kept_and_delivered_to_every_participant(
    ws_base: str, trio: Trio, focus: FocusWorld
) -> None:
    async with (
        live(url(ws_base, trio, trio.alice)) as alice,
        live(url(ws_base, trio, trio.bob)) as bob,
    ):
        await alice.send(type="chat", text="Hello, focus friends")
        heard = await bob.next_of(is_type("chat_message"))
        assert await alice.next_of(is_type("chat_message")) == heard
        await bob.send(type="chat", text="Hi!")
        answer = await alice.next_of(is_type("chat_message"))
    assert {k: heard[k] for k in ("room_id", "user_id", "text")} == {
        "room_id": str(trio.room_id),
        "user_id": str(trio.alice.user_id),
        "text": "Hello, focus friends",
    }
    assert set(heard) == {"type", "seq", "message_id", "room_id", "user_id", "text", "created_at"}

    path = f"/api/v1/rooms/{trio.room_id}/messages"
    page = await focus.client.get(path, params={"limit": 1}, headers=trio.owner.headers)
    assert page.status_code == 200, page.text
    first = page.json()
    assert [m["message_id"] for m in first["items"]] == [answer["message_id"]]
    rest = await focus.client.get(
        path, params={"limit": 1, "cursor": first["next_cursor"]}, headers=trio.owner.headers
    )
    assert [m["text"] for m in rest.json()["items"]] == ["Hello, focus friends"]
    assert {k: v for k, v in heard.items() if k not in ("type", "seq")} == rest.json()["items"][0]


async def test_the_history_is_for_participants_only(
    focus: FocusWorld, trio: Trio, database: Database
) -> None:
    outsider, banned = await focus.user(), await focus.user()
    async with database.unit_of_work() as session:
        session.add(Ban(room_id=trio.room_id, user_id=banned.user_id, banned_by=trio.owner.user_id))
    path = f"/api/v1/rooms/{trio.room_id}/messages"
    assert_error(await focus.client.get(path), 401)
    assert_error(await focus.client.get(path, headers=outsider.headers), 403, "not_a_member")
    assert_error(await focus.client.get(path, headers=banned.headers), 403, "banned")
    missing = f"/api/v1/rooms/{new_id()}/messages"
    assert_error(await focus.client.get(missing, headers=trio.alice.headers), 404, "room_not_found")
    bad = await focus.client.get(path, params={"limit": 0}, headers=trio.alice.headers)
    assert_error(bad, 422)
    cursor = await focus.client.get(path, params={"cursor": "nope"}, headers=trio.alice.headers)
    assert_error(cursor, 422)


async def test_a_participant_removed_meanwhile_is_closed_on_their_next_chat(
    ws_base: str, trio: Trio, database: Database
) -> None:
    async with live(url(ws_base, trio, trio.bob)) as bob:
        async with database.unit_of_work() as session:
            await session.execute(
                delete(Member).where(
                    Member.room_id == trio.room_id, Member.user_id == trio.bob.user_id
                )
            )
        await bob.send(type="chat", text="still here?")
        assert await bob.closed() == (4403, "not_a_member")
    async with database.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(RoomMessage)) == 0


# Who may connect


async def no_token(world: FocusWorld, trio: Trio) -> str | None:
    return None


async def forged(world: FocusWorld, trio: Trio) -> str | None:
    codec = dataclasses.replace(codec_for(world.settings), secret="not-the-key-" + "x" * 40)
    return _token(codec, trio.alice.user_id, "focus")


async def other_apps(world: FocusWorld, trio: Trio) -> str | None:
    return _token(codec_for(world.settings), trio.alice.user_id, "b0")


async def refresh_token(world: FocusWorld, trio: Trio) -> str | None:
    return trio.alice.refresh_token


async def non_member(world: FocusWorld, trio: Trio) -> str | None:
    return (await world.user()).access_token


async def banned(world: FocusWorld, trio: Trio) -> str | None:
    user = await world.user()
    async with world.database.unit_of_work() as session:
        session.add(Ban(room_id=trio.room_id, user_id=user.user_id, banned_by=trio.owner.user_id))
    return user.access_token


def _token(codec: object, subject: uuid.UUID, realm: str) -> str:
    token: str = codec.encode(  # type: ignore[attr-defined]
        typ="access", realm=realm, subject=subject, jti=new_id(), now=utcnow(), session_id=new_id()
    )
    return token


Caller = Callable[[FocusWorld, Trio], Awaitable[str | None]]


@pytest.mark.parametrize(
    ("caller", "code"),
    [
        (no_token, 4401),
        (forged, 4401),
        (other_apps, 4401),
        (refresh_token, 4401),
        (non_member, 4403),
        (banned, 4403),
    ],
    ids=["no token", "forged", "other app's token", "refresh token", "non-member", "banned"],
)
async def test_outsiders_are_refused(
    ws_base: str, focus: FocusWorld, trio: Trio, caller: Caller, code: int
) -> None:
    token = await caller(focus, trio)
    closed_with, reason = await refused(room_url(ws_base, trio.room_id, token))
    assert closed_with == code, reason
    if code == 4403:
        assert reason == ("banned" if caller is banned else "not_a_member")


async def test_a_deleted_or_unknown_room_is_refused_with_4404(
    ws_base: str, trio: Trio, database: Database
) -> None:
    async with database.unit_of_work() as session:
        await session.execute(
            update(Room).where(Room.id == trio.room_id).values(deleted_at=utcnow())
        )
    token = trio.alice.access_token
    assert await refused(room_url(ws_base, trio.room_id, token)) == (4404, "room_not_found")
    assert await refused(room_url(ws_base, new_id(), token)) == (4404, "room_not_found")


async def test_many_participants_connect_at_once(
    ws_base: str, focus: FocusWorld, database: Database
) -> None:
    owner = await focus.user()
    crowd = await asyncio.gather(*(focus.user() for _ in range(12)))
    room_id = await room_with(database, owner, crowd)

    async def connect_and_ping(who: FocusUser) -> Frame:
        async with live(room_url(ws_base, room_id, who.access_token)) as client:
            await client.send(type="ping", t0=1)
            await client.next_of(is_type("pong"))
            return client.state

    states = await asyncio.gather(*(connect_and_ping(who) for who in crowd))
    assert all(s["room"]["room_id"] == str(room_id) for s in states)
    assert all(len(s["participants"]) == 13 for s in states)
