"""Presence over the room socket: one presence per user across tabs, no leave and join for a
reconnect within the grace, offline after it (spans closed, the room emptied), and presence
changes coalesced into one `participant_presence` per room per window.

A change that must *not* produce a diff is checked with a sentinel: a later change is made,
and the next diff must hold that change alone (diffs go out in the order changes were made).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from ensemble.kernel.db import Database, utcnow
from ensemble.settings import Settings
from tests.apps.focus.conftest import FocusUser, FocusWorld
from tests.apps.focus.live.support import (
    Frame,
    LiveClient,
    changes,
    focus_served,
    is_type,
    live,
    room_row,
    room_url,
    room_with,
    spans_of,
)
from tests.polling import eventually

GRACE_S = 3.0
WINDOW_MS = 1500


@pytest.fixture(scope="module")
async def ws_base(settings: Settings, database: Database) -> AsyncIterator[str]:
    async with focus_served(
        settings, database, reconnect_grace_seconds=GRACE_S, presence_coalesce_ms=100
    ) as base:
        yield base


@pytest.fixture(scope="module")
async def slow_windows(settings: Settings, database: Database) -> AsyncIterator[str]:
    async with focus_served(settings, database, presence_coalesce_ms=WINDOW_MS) as base:
        yield base


async def presence_until(client: LiveClient, wanted: dict[str, str]) -> list[Frame]:
    """The diffs `client` receives until the statuses of `wanted` are all reached."""
    seen: dict[str, str] = {}
    diffs: list[Frame] = []
    while any(seen.get(user) != status for user, status in wanted.items()):
        diffs.append(await client.next_of(is_type("participant_presence")))
        seen |= changes(diffs[-1])
    return diffs


async def next_diff(client: LiveClient) -> dict[str, str]:
    return changes(await client.next_of(is_type("participant_presence")))


def key(user: FocusUser) -> str:
    return str(user.user_id)


async def pair(focus: FocusWorld) -> tuple[uuid.UUID, FocusUser, FocusUser]:
    alice, bob = await asyncio.gather(focus.user(), focus.user())
    return await room_with(focus.database, alice, [bob]), alice, bob


async def test_two_tabs_are_one_presence(ws_base: str, focus: FocusWorld) -> None:
    room_id, alice, bob = await pair(focus)
    async with live(room_url(ws_base, room_id, bob.access_token)) as observer:
        await presence_until(observer, {key(bob): "online"})
        async with contextlib.AsyncExitStack() as first_tab:
            tab1 = await first_tab.enter_async_context(
                live(room_url(ws_base, room_id, alice.access_token))
            )
            await presence_until(observer, {key(alice): "online"})
            async with live(room_url(ws_base, room_id, alice.access_token)) as tab2:
                assert {p["user_id"]: p["status"] for p in tab2.state["participants"]} == {
                    key(alice): "online",
                    key(bob): "online",
                }
                await tab1.send(type="presence", status="away")  # the other tab is online
                await first_tab.aclose()  # and the first tab closes: still one presence
                await observer.send(type="presence", status="away")
                assert await next_diff(observer) == {key(bob): "away"}, "nothing about alice"
                await tab2.send(type="presence", status="away")
                assert await next_diff(observer) == {key(alice): "away"}
                await tab2.send(type="presence", status="away")  # twice: no change
                await tab2.send(type="presence", status="online")
                assert await next_diff(observer) == {key(alice): "online"}
    [span] = await spans_of(focus.database, room_id, alice.user_id)
    assert span.ended_at is None, "her grace has not run out"


async def test_a_reconnect_within_the_grace_makes_no_leave_or_join(
    ws_base: str, focus: FocusWorld
) -> None:
    room_id, alice, bob = await pair(focus)
    url = room_url(ws_base, room_id, alice.access_token)
    async with live(room_url(ws_base, room_id, bob.access_token)) as observer:
        async with live(url):
            await presence_until(observer, {key(alice): "online", key(bob): "online"})
        async with live(url) as back:
            assert {p["user_id"]: p["status"] for p in back.state["participants"]} == {
                key(alice): "online",
                key(bob): "online",
            }
            await observer.send(type="presence", status="away")
            assert await next_diff(observer) == {key(bob): "away"}, "no leave, no join"
            assert await next_diff(back) == {key(bob): "away"}
    [span] = await spans_of(focus.database, room_id, alice.user_id)
    assert span.ended_at is None


async def test_leaving_ends_presence_after_the_grace(ws_base: str, focus: FocusWorld) -> None:
    room_id, alice, bob = await pair(focus)
    database = focus.database
    async with live(room_url(ws_base, room_id, bob.access_token)) as observer:
        async with live(room_url(ws_base, room_id, alice.access_token)):
            await presence_until(observer, {key(alice): "online", key(bob): "online"})
            assert (await room_row(database, room_id)).emptied_at is None
            dropped = utcnow()
            left = time.monotonic()
        assert await next_diff(observer) == {key(alice): "offline"}
        assert time.monotonic() - left >= GRACE_S - 0.2, "not before the grace ran out"
        [span] = await spans_of(database, room_id, alice.user_id)
        assert span.ended_at is not None
        assert dropped - timedelta(seconds=1) <= span.ended_at <= dropped + timedelta(seconds=1)
        assert (await room_row(database, room_id)).emptied_at is None, "bob is still here"

    async def bob_gone() -> object:
        return (await room_row(database, room_id)).emptied_at

    emptied_at = await eventually(bob_gone, lambda at: at is not None, timeout=GRACE_S + 15)
    [bobs] = await spans_of(database, room_id, bob.user_id)
    assert bobs.ended_at == emptied_at, "emptied when the last one left"

    async with live(room_url(ws_base, room_id, alice.access_token)) as back:
        assert (await room_row(database, room_id)).emptied_at is None
        spans = await spans_of(database, room_id, alice.user_id)
        assert [s.ended_at is None for s in spans] == [False, True]
        assert {p["user_id"]: p["status"] for p in back.state["participants"]} == {
            key(alice): "online",
            key(bob): "offline",
        }


async def test_many_presence_changes_in_one_window_give_one_diff(
    slow_windows: str, focus: FocusWorld
) -> None:
    owner = await focus.user()
    crowd = await asyncio.gather(*(focus.user() for _ in range(8)))
    room_id = await room_with(focus.database, owner, crowd)
    async with contextlib.AsyncExitStack() as stack:
        observer = await stack.enter_async_context(
            live(room_url(slow_windows, room_id, owner.access_token))
        )
        started = time.monotonic()
        clients = await asyncio.gather(
            *(
                stack.enter_async_context(live(room_url(slow_windows, room_id, u.access_token)))
                for u in crowd
            )
        )
        arrivals = await presence_until(observer, {key(u): "online" for u in [owner, *crowd]})
        windows = (time.monotonic() - started) / (WINDOW_MS / 1000)
        assert len(arrivals) <= windows + 1, "at most one diff per window"

        await asyncio.gather(*(c.send(type="presence", status="away") for c in clients))
        everyone_away = {key(u): "away" for u in crowd}
        assert await next_diff(observer) == everyone_away, "one diff with every change"
        for client in clients:  # every socket gets that one diff: O(members) frames in all
            await client.next_of(
                lambda f: f["type"] == "participant_presence" and changes(f) == everyone_away
            )
        await observer.send(type="presence", status="away")
        assert await next_diff(observer) == {key(owner): "away"}, "and nothing else"


async def test_changes_without_pause_still_give_one_diff_per_window(
    slow_windows: str, focus: FocusWorld
) -> None:
    owner, toggler = await asyncio.gather(focus.user(), focus.user())
    room_id = await room_with(focus.database, owner, [toggler])
    async with (
        live(room_url(slow_windows, room_id, owner.access_token)) as observer,
        live(room_url(slow_windows, room_id, toggler.access_token)) as changing,
    ):
        await presence_until(observer, {key(owner): "online", key(toggler): "online"})
        first = len(observer.numbered)
        started = time.monotonic()
        statuses = itertools.cycle(["away", "online"])
        while time.monotonic() - started < 3 * WINDOW_MS / 1000:  # a change every round trip
            await changing.send(type="presence", status=next(statuses))
            await changing.send(type="ping", t0=0)  # answered after the change is recorded
            await changing.next_of(is_type("pong"))
        await observer.send(type="presence", status="away")
        await presence_until(observer, {key(owner): "away"})
    times = observer.received_at[first:]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) >= 2, times
    assert min(gaps) >= WINDOW_MS / 1000 / 2, f"diffs closer than a window: {gaps}"


async def test_a_user_who_hides_presence_is_hidden_and_never_in_a_diff(
    ws_base: str, focus: FocusWorld
) -> None:
    room_id, alice, bob = await pair(focus)
    hidden = await focus.client.patch(
        "/api/v1/settings", json={"presence_visible": False}, headers=alice.headers
    )
    assert hidden.status_code == 200, hidden.text
    async with live(room_url(ws_base, room_id, bob.access_token)) as observer:
        await presence_until(observer, {key(bob): "online"})
        async with live(room_url(ws_base, room_id, alice.access_token)) as tab:
            statuses = {p["user_id"]: p["status"] for p in tab.state["participants"]}
            assert statuses == {key(alice): "hidden", key(bob): "online"}
            await tab.send(type="presence", status="away")
            await observer.send(type="presence", status="away")  # the sentinel
            assert await next_diff(observer) == {key(bob): "away"}, "nothing about alice"
    [span] = await spans_of(focus.database, room_id, alice.user_id)
    assert span.started_at is not None, "she is credited all the same"
