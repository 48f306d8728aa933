"""Leaderboards: a hand counts once on each of its boards (after its commit, never after a
rollback), coin hands only; the top, your rank and your neighbours over the API; a rebuild
from `casino.hands` equals what the hands counted one by one."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from ensemble.apps.casino.domain import GEMS, GameType, Period
from ensemble.apps.casino.leaderboards import service as leaderboards
from ensemble.apps.casino.leaderboards.domain import PREFIX, board_key
from ensemble.apps.casino.models import Hand
from tests.apicheck import assert_error
from tests.apps.casino.activity import Play, add_hands, hand_of
from tests.apps.casino.conftest import API, CasinoWorld
from tests.commands import run_cli

BOARD = f"{API}/games/leaderboard"


async def clear_boards(redis: Redis) -> None:
    async for key in redis.scan_iter(match=f"{PREFIX}:*"):
        await redis.delete(key)


@pytest.fixture
async def boards(redis: Redis) -> AsyncIterator[Redis]:
    """The session's Redis with no leaderboard in it (before and after the test)."""
    await clear_boards(redis)
    yield redis
    await clear_boards(redis)


async def board_of(redis: Redis, key: str) -> dict[str, int]:
    rows: list[Any] = await redis.zrange(key, 0, -1, withscores=True)
    return {member.decode(): int(score) for member, score in rows}


async def current_boards(redis: Redis, at: datetime) -> dict[str, dict[str, int]]:
    keys = [board_key(game, period, at) for game in (None, *GameType) for period in Period]
    return {key: await board_of(redis, key) for key in keys}


async def test_a_hand_counts_once_on_each_of_its_boards(boards: Redis) -> None:
    at = datetime(2026, 12, 10, 12, tzinfo=UTC)
    hand = hand_of(Play(uuid.uuid4(), 10, 60, at))
    assert await leaderboards.record_hand(boards, hand)
    assert not await leaderboards.record_hand(boards, hand)  # a repeated call adds nothing
    member = str(hand.user_id)
    for game in (GameType.SLOT, None):
        for period in Period:
            assert await board_of(boards, board_key(game, period, at)) == {member: 50}
    assert await board_of(boards, board_key(GameType.GACHA, Period.DAY, at)) == {}
    assert await boards.ttl(board_key(None, Period.DAY, at)) > 0
    assert await boards.ttl(board_key(None, Period.ALL, at)) == -1  # kept for ever


async def test_a_gems_hand_counts_on_no_board(boards: Redis) -> None:
    at = datetime(2026, 12, 10, 12, tzinfo=UTC)
    hand = hand_of(Play(uuid.uuid4(), 5, 0, at, GameType.GACHA, GEMS))
    assert not await leaderboards.record_hand(boards, hand)
    assert [key async for key in boards.scan_iter(match=f"{PREFIX}:*")] == []


async def test_a_hand_counts_after_its_commit_never_after_a_rollback(
    casino: CasinoWorld, boards: Redis
) -> None:
    member = await casino.member()
    now = datetime.now(UTC)

    async def failing_play() -> None:
        async with casino.database.unit_of_work() as session:
            hand = hand_of(Play(member.user_id, 10, 100, now))
            session.add(hand)
            leaderboards.record_after_commit(session, boards, hand)
            raise RuntimeError("the spin failed")

    with pytest.raises(RuntimeError):
        await failing_play()
    assert await board_of(boards, board_key(None, Period.ALL, now)) == {}
    async with casino.database.unit_of_work() as session:
        hand = hand_of(Play(member.user_id, 10, 100, now))
        session.add(hand)
        leaderboards.record_after_commit(session, boards, hand)
    assert await board_of(boards, board_key(None, Period.ALL, now)) == {str(member.user_id): 90}


async def test_a_rebuild_equals_the_hands_counted_one_by_one(
    casino: CasinoWorld, boards: Redis
) -> None:
    members = [await casino.member() for _ in range(6)]
    now = datetime.now(UTC)
    chance = random.Random(7)
    plays = [
        Play(
            chance.choice(members).user_id,
            bet := chance.choice([10, 20, 50]),
            chance.choice([0, 0, bet, bet * 2, bet * 10]),
            now - timedelta(minutes=chance.randrange(0, 60 * 24 * 45)),
            chance.choice(list(GameType)),
            chance.choice([GEMS] + ["coins"] * 5),
        )
        for _ in range(300)
    ]
    hands = await add_hands(casino.database, plays)
    for hand in hands:
        await leaderboards.record_hand(boards, hand)
    counted = await current_boards(boards, now)
    assert any(counted.values())
    await clear_boards(boards)
    async with casino.database.unit_of_work() as session:
        rebuilt = await leaderboards.rebuild_all(session, boards, now)
    assert await current_boards(boards, now) == counted
    assert rebuilt == {key: len(members) for key, members in counted.items()}


async def test_a_rebuild_replaces_a_wrong_board(casino: CasinoWorld, boards: Redis) -> None:
    member = await casino.member()
    now = datetime.now(UTC)
    await add_hands(casino.database, [Play(member.user_id, 10, 40, now)])
    key = board_key(None, Period.ALL, now)
    await boards.zadd(key, {str(uuid.uuid4()): 999, str(member.user_id): 1})
    async with casino.database.unit_of_work() as session:
        assert await leaderboards.rebuild(session, boards, None, Period.ALL, now) == 1
    assert await board_of(boards, key) == {str(member.user_id): 30}


async def record(user_id: uuid.UUID, net: int, redis: Redis, at: datetime) -> None:
    hand: Hand = hand_of(Play(user_id, 100, 100 + net, at))
    await leaderboards.record_hand(redis, hand)


async def test_the_board_with_your_rank_and_neighbours(casino: CasinoWorld, boards: Redis) -> None:
    members = [await casino.member() for _ in range(12)]
    now = datetime.now(UTC)
    for n, member in enumerate(members):  # member n wins 10 × n: the last is first
        await record(member.user_id, 10 * n, boards, now)
    caller = members[4]  # 8th of 12
    answer = await casino.client.get(
        BOARD, params={"period": "day", "limit": 5, "around_me": "true"}, headers=caller.headers
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["period"], body["game_type"]) == ("day", None)
    assert [each["score"] for each in body["entries"]] == [110, 100, 90, 80, 70]
    assert [each["rank"] for each in body["entries"]] == [1, 2, 3, 4, 5]
    assert body["entries"][0]["nickname"] == members[-1].nickname
    assert body["me"] == {
        "rank": 8,
        "user_id": str(caller.user_id),
        "nickname": caller.nickname,
        "score": 40,
    }
    assert [each["rank"] for each in body["around"]] == [6, 7, 8, 9, 10]
    assert [each["score"] for each in body["around"]] == [60, 50, 40, 30, 20]
    last = await casino.client.get(
        BOARD, params={"period": "day", "limit": 4, "around_me": "true"}, headers=members[0].headers
    )
    assert [each["rank"] for each in last.json()["around"]] == [10, 11, 12]
    plain = await casino.client.get(BOARD, params={"game_type": "slot"}, headers=caller.headers)
    assert plain.json()["around"] is None
    assert plain.json()["period"] == "week"
    assert len(plain.json()["entries"]) == 10
    gacha = await casino.client.get(
        BOARD, params={"game_type": "gacha", "around_me": "true"}, headers=caller.headers
    )
    assert gacha.json()["entries"] == []
    assert gacha.json()["me"] is None
    assert gacha.json()["around"] == []


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "2.0"},
        {"period": "year"},
        {"game_type": "poker"},
        {"around_me": "maybe"},
    ],
)
async def test_bad_board_queries_are_refused(
    casino: CasinoWorld, boards: Redis, query: dict[str, str | int]
) -> None:
    member = await casino.member()
    answer = await casino.client.get(BOARD, params=query, headers=member.headers)
    assert_error(answer, 422, "validation_error")


async def test_the_rebuild_command_rebuilds_every_current_board(
    casino: CasinoWorld, boards: Redis
) -> None:
    member = await casino.member()
    now = datetime.now(UTC)
    await add_hands(casino.database, [Play(member.user_id, 10, 35, now, GameType.GACHA)])
    command = await run_cli(casino.settings, "casino", "rebuild-leaderboards")
    assert command.exit_code == 0, command.output
    key = board_key(GameType.GACHA, Period.DAY, now)
    assert f"{key}: 1 members" in command.output
    assert await board_of(boards, key) == {str(member.user_id): 25}
    assert await board_of(boards, board_key(GameType.SLOT, Period.DAY, now)) == {}
