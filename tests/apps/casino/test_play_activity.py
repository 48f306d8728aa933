"""A played hand feeds A7: it carries the member's open game session, it is logged as an
action (so achievements and stats count it), and it moves the leaderboards once committed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from ensemble.apps.casino.actions.models import Action
from ensemble.apps.casino.models import Hand
from tests.apps.casino.conftest import API, CasinoWorld, Member
from tests.apps.casino.test_leaderboards import clear_boards
from tests.polling import eventually


@pytest.fixture
async def boards(redis: Redis) -> AsyncIterator[Redis]:
    await clear_boards(redis)
    yield redis
    await clear_boards(redis)


async def actions_of(casino: CasinoWorld, member: Member) -> list[tuple[str, dict[str, Any]]]:
    async with casino.database.sessionmaker() as session:
        rows = await session.scalars(
            select(Action).where(Action.user_id == member.user_id).order_by(Action.created_at)
        )
        return [(row.action_type, row.context) for row in rows]


async def test_a_spin_is_an_action_of_the_open_session_and_on_the_board(
    casino: CasinoWorld, boards: Redis
) -> None:
    member = await casino.member()
    started = await casino.client.post(
        f"{API}/games/session/start", json={"game_type": "slot"}, headers=member.headers
    )
    assert started.status_code == 201, started.text
    spun = await casino.client.post(
        f"{API}/games/slot/spin", json={"bet": 10}, headers=member.headers
    )
    assert spun.status_code == 200, spun.text
    hand_id = spun.json()["hand_id"]

    async with casino.database.sessionmaker() as session:
        hand = await session.get(Hand, uuid.UUID(hand_id))
    assert hand is not None
    assert str(hand.session_id) == started.json()["session_id"]
    assert await actions_of(casino, member) == [
        ("SESSION_START", {"game_type": "slot", "session_id": started.json()["session_id"]}),
        ("SLOT_SPIN", {"hand_id": hand_id, "bet": 10, "payout": hand.payout}),
    ]

    async def my_entry() -> Any:
        board = await casino.client.get(
            f"{API}/games/leaderboard", params={"game_type": "slot"}, headers=member.headers
        )
        return board.json()["me"]

    me = await eventually(my_entry, lambda entry: entry is not None)
    assert me["score"] == hand.payout - hand.bet


async def test_a_gacha_play_is_an_action(casino: CasinoWorld) -> None:
    member = await casino.member()
    pulled = await casino.client.post(
        f"{API}/gacha/spin", json={"banner_id": "standard", "count": 1}, headers=member.headers
    )
    assert pulled.status_code == 200, pulled.text
    [(kind, context)] = await actions_of(casino, member)
    assert (kind, context["hand_id"], context["bet"]) == (
        "GACHA_SPIN",
        pulled.json()["hand_id"],
        100,
    )


async def test_a_refused_spin_logs_no_action(casino: CasinoWorld) -> None:
    member = await casino.member()
    refused = await casino.client.post(
        f"{API}/games/slot/spin", json={"bet": 10_000}, headers=member.headers
    )
    assert refused.status_code == 409, refused.text
    assert await actions_of(casino, member) == []
