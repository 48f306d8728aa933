"""Two real `ensemble serve --app focus` processes serving one room through Redis: the same
numbered stream on both, a killed process's clients resuming on the other from a snapshot,
and no token in the access log."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from ensemble.kernel.db import Database
from tests.apicheck import Server, serve
from tests.apps.focus.conftest import FocusUser, FocusWorld
from tests.apps.focus.live.support import (
    LiveClient,
    changes,
    is_type,
    live,
    room_url,
    room_with,
)
from tests.polling import eventually

ENV = {"FOCUS_PRESENCE_COALESCE_MS": "100", "LOG_LEVEL": "INFO"}


def two_servers(
    database_url: str, redis_url: str, workdir: Path, stack: ExitStack
) -> tuple[Server, Server]:
    first, second = (
        stack.enter_context(serve("focus", database_url, redis_url, workdir / name, ENV))
        for name in ("one", "two")
    )
    return first, second


@pytest.fixture(scope="module")
def servers(
    database_url: str, redis_url: str, database: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    with ExitStack() as stack:
        yield two_servers(database_url, redis_url, tmp_path_factory.mktemp("live"), stack)


def url(server: Server, room_id: uuid.UUID, who: FocusUser) -> str:
    return room_url(f"{server.ws_url}", room_id, who.access_token)


async def chats_until(client: LiveClient, chats: int) -> None:
    """Read until `chats` chat messages came."""
    for _ in range(chats):
        await client.next_of(is_type("chat_message"))


async def test_members_on_two_processes_see_the_same_numbered_stream(
    servers: tuple[Server, Server], focus: FocusWorld
) -> None:
    one, two = servers
    owner, alice, bob = await asyncio.gather(focus.user(), focus.user(), focus.user())
    room_id = await room_with(focus.database, owner, [alice, bob])
    async with (
        live(url(one, room_id, owner)) as on_one,
        live(url(two, room_id, alice)) as on_two,
        live(url(one, room_id, bob)) as also_on_one,
    ):
        clients = (on_one, on_two, also_on_one)
        everyone = {str(u.user_id): "online" for u in (owner, alice, bob)}
        for client in clients:  # every socket joined: it heard everyone arrive
            seen: dict[str, str] = {}
            for p in client.state["participants"]:
                seen[p["user_id"]] = p["status"]
            while seen != everyone:
                seen |= changes(await client.next_of(is_type("participant_presence")))
        per_client = 8
        await asyncio.gather(
            *(
                client.send(type="chat", text=f"{n} from {i}")
                for i, client in enumerate(clients)
                for n in range(per_client)
            ),
            on_two.send(type="presence", status="away"),
        )
        await asyncio.gather(*(chats_until(c, per_client * len(clients)) for c in clients))
    common = max(client.state["seq"] for client in clients)
    tails = [[f for f in client.numbered if f["seq"] > common] for client in clients]
    assert tails[0] == tails[1] == tails[2], "one stream, the same on both processes"
    for client in clients:  # each from just after its own snapshot, without gaps
        first = client.state["seq"] + 1
        numbers = [f["seq"] for f in client.numbered if f["seq"] >= first]
        assert numbers == list(range(first, first + len(numbers)))


async def test_the_token_never_reaches_the_log(
    servers: tuple[Server, Server], focus: FocusWorld
) -> None:
    one, _ = servers
    owner = await focus.user()
    room_id = await room_with(focus.database, owner)
    async with live(url(one, room_id, owner)):
        pass

    async def log() -> str:
        return one.log.read_text(errors="replace")

    written = await eventually(log, lambda text: f"/ws/rooms/{room_id}" in text)
    assert owner.access_token not in written
    lines = [line for line in written.splitlines() if f"/ws/rooms/{room_id}" in line]
    assert all("token=[REDACTED]" in line for line in lines), lines


async def test_clients_of_a_killed_process_resume_on_the_other_from_a_snapshot(
    database_url: str, redis_url: str, focus: FocusWorld, tmp_path: Path
) -> None:
    owner, alice = await asyncio.gather(focus.user(), focus.user())
    room_id = await room_with(focus.database, owner, [alice])
    with ExitStack() as stack:
        doomed, survivor = two_servers(database_url, redis_url, tmp_path, stack)
        async with live(url(survivor, room_id, owner)) as stays:
            async with live(url(doomed, room_id, alice)) as orphan:
                alice_id = str(alice.user_id)
                await stays.next_of(  # her arrival went out before the crash
                    lambda f: f["type"] == "participant_presence" and alice_id in changes(f)
                )
                await orphan.send(type="chat", text="before the crash")
                before = await stays.next_of(is_type("chat_message"))
                await orphan.next_of(is_type("chat_message"))
                doomed.process.kill()
                doomed.process.wait(timeout=10)
                assert await orphan.ended() is None, "the connection just ended, no close frame"
            async with live(url(survivor, room_id, alice)) as resumed:
                assert resumed.state["seq"] >= before["seq"]
                statuses = {p["user_id"]: p["status"] for p in resumed.state["participants"]}
                assert statuses == {str(owner.user_id): "online", str(alice.user_id): "online"}
                await stays.send(type="chat", text="after the crash")
                after = await resumed.next_of(is_type("chat_message"))
                assert after["text"] == "after the crash"
                assert after["seq"] > resumed.state["seq"]
                await stays.send(type="presence", status="away")
                diff = await resumed.next_of(is_type("participant_presence"))
                assert changes(diff) == {str(owner.user_id): "away"}, "alice never left"
