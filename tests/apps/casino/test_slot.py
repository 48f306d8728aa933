"""The slot over HTTP: the paytable, spins paid through the ledger (one transaction), the
hand, streaks, idempotency, bounds, 409 without writing, 200 spins on one wallet at once,
and every spin recomputed from revealed data only."""

from __future__ import annotations

import asyncio
import uuid
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import select

from ensemble.apps.casino.domain import GameType
from ensemble.apps.casino.models import Hand
from tests.apicheck import assert_error, snapshot
from tests.apps.casino.conftest import API, CasinoWorld
from tests.apps.casino.plays import (
    PLAY_TABLES,
    balance_and_entry_sum,
    committed,
    reels_of,
    rotate,
    spin,
)


async def paytable(casino: CasinoWorld, headers: dict[str, str]) -> dict[str, Any]:
    answer = await casino.client.get(f"{API}/games/slot/paytable", headers=headers)
    assert answer.status_code == 200, answer.text
    table: dict[str, Any] = answer.json()
    return table


async def hands_of(casino: CasinoWorld, user_id: uuid.UUID) -> list[Hand]:
    async with casino.database.sessionmaker() as session:
        rows = await session.scalars(select(Hand).where(Hand.user_id == user_id))
        return list(rows)


async def test_the_paytable_discloses_exact_rtp_and_hit_rate(casino: CasinoWorld) -> None:
    member = await casino.member()
    table = await paytable(casino, member.headers)
    assert table["rtp"] == {"fraction": "1951/2048", "percent": 95.2637}
    assert table["hit_rate"]["fraction"] == "2105/8192"
    assert next(s["symbol"] for s in table["strip"]) == "SEVEN"
    assert table["three_of_a_kind"]["SEVEN"] == 200
    assert table["pairs"] == {"CHERRY": 2}
    assert (table["min_bet"], table["max_bet"]) == (1, 10_000)
    assert sum(Fraction(p["probability"]["fraction"]) for p in table["payouts"]) == 1


async def test_a_spin_moves_the_wallet_and_records_the_hand(casino: CasinoWorld) -> None:
    member = await casino.member()
    commitment = (await casino.client.get(f"{API}/fairness", headers=member.headers)).json()
    answer = await spin(casino, member, 10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["reels"]) == 3
    assert body["nonce"] == 1
    assert body["server_seed_hash"] == commitment["server_seed_hash"]
    assert body["win"] == 10 * body["multiplier"]
    assert body["balance"] == 1000 - 10 + body["win"]
    assert await balance_and_entry_sum(casino.database, member.user_id) == (body["balance"],) * 2
    [hand] = await hands_of(casino, member.user_id)
    assert (hand.id, hand.game_type, hand.bet, hand.payout) == (
        uuid.UUID(body["hand_id"]),
        GameType.SLOT,
        10,
        body["win"],
    )
    assert (hand.nonce, hand.table_version, hand.outcome["reels"]) == (1, 1, body["reels"])


async def test_the_seed_alias_spins_the_same_way(casino: CasinoWorld) -> None:
    member = await casino.member()
    answer = await casino.client.post(
        f"{API}/actions/SLOT_SPIN", json={"bet": 5}, headers=member.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["bet"] == 5
    assert answer.json()["nonce"] == 1


async def test_spins_recompute_from_revealed_data_only(casino: CasinoWorld) -> None:
    member = await casino.member()
    played = [(await spin(casino, member, 1)).json() for _ in range(12)]
    rotation = await rotate(casino, member)
    revealed = rotation["revealed"]
    assert committed(revealed)
    assert revealed["last_nonce"] == 12
    table = await paytable(casino, member.headers)
    for each in played:
        assert each["server_seed_hash"] == revealed["server_seed_hash"]
        assert reels_of(revealed, table, each["nonce"]) == each["reels"]
        verified = await casino.client.get(
            f"{API}/fairness/verify",
            params={
                "server_seed": revealed["server_seed"],
                "server_seed_hash": revealed["server_seed_hash"],
                "client_seed": revealed["client_seed"],
                "nonce": each["nonce"],
                "table_version": each["table_version"],
                "game": "slot",
                "bet": each["bet"],
            },
            headers=member.headers,
        )
        assert verified.status_code == 200, verified.text
        assert verified.json() == {
            "reels": each["reels"],
            "multiplier": each["multiplier"],
            "win": each["win"],
        }


async def test_the_win_streak_counts_winning_spins_in_a_row(casino: CasinoWorld) -> None:
    member = await casino.member()
    current = best = 0
    for _ in range(40):
        body = (await spin(casino, member, 1)).json()
        current = current + 1 if body["win"] > 0 else 0
        best = max(best, current)
        assert body["streak"] == {"current": current, "best": best}


async def test_200_concurrent_spins_on_one_wallet(casino: CasinoWorld) -> None:
    """Never negative, no lost update, the ledger adds up, each spin a hand or a clean 409."""
    member = await casino.member()
    answers = await asyncio.gather(*(spin(casino, member, 25) for _ in range(200)))
    played = [a.json() for a in answers if a.status_code == 200]
    for refused in (a for a in answers if a.status_code != 200):
        assert_error(refused, 409, "insufficient_coins")
    hands = await hands_of(casino, member.user_id)
    assert len(hands) == len(played) >= 40  # 1,000 coins cover at least 40 losing spins
    assert sorted(h.nonce for h in hands) == list(range(1, len(hands) + 1))
    balance, entries = await balance_and_entry_sum(casino.database, member.user_id)
    assert balance == entries == 1000 + sum(h.payout - h.bet for h in hands) >= 0
    assert min(p["balance"] for p in played) >= 0


async def test_an_idempotency_key_plays_and_charges_once(casino: CasinoWorld) -> None:
    member = await casino.member()
    answers = await asyncio.gather(*(spin(casino, member, 10, key="spin-1") for _ in range(5)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["hand_id"] for a in answers}) == 1
    assert all(a.json() == answers[0].json() for a in answers)
    assert len(await hands_of(casino, member.user_id)) == 1
    balance, _ = await balance_and_entry_sum(casino.database, member.user_id)
    assert balance == answers[0].json()["balance"]
    assert_error(await spin(casino, member, 20, key="spin-1"), 409, "idempotency_key_reused")
    other = await spin(casino, member, 10, key="spin-2")
    assert other.json()["hand_id"] != answers[0].json()["hand_id"]


@pytest.mark.parametrize("bet", [0, -1, 10_001, "10", 1.5, None])
async def test_a_bad_bet_is_refused_and_writes_nothing(casino: CasinoWorld, bet: object) -> None:
    member = await casino.member()
    await casino.client.get(f"{API}/fairness", headers=member.headers)
    before = await snapshot(casino.database, PLAY_TABLES)
    answer = await casino.client.post(
        f"{API}/games/slot/spin", json={"bet": bet}, headers=member.headers
    )
    error = assert_error(answer, 422)
    if isinstance(bet, int) and not isinstance(bet, bool):
        assert error["code"] == "bet_out_of_bounds"
    assert await snapshot(casino.database, PLAY_TABLES) == before


async def test_not_enough_coins_is_409_and_writes_nothing(casino: CasinoWorld) -> None:
    member = await casino.member()
    await casino.client.get(f"{API}/fairness", headers=member.headers)
    before = await snapshot(casino.database, PLAY_TABLES)
    assert_error(await spin(casino, member, 1001), 409, "insufficient_coins")
    assert await snapshot(casino.database, PLAY_TABLES) == before
    assert (await spin(casino, member, 1000)).status_code == 200


async def test_the_slot_routes_need_a_token(casino: CasinoWorld) -> None:
    assert_error(await casino.client.get(f"{API}/games/slot/paytable"), 401)
    assert_error(await casino.client.post(f"{API}/games/slot/spin", json={"bet": 1}), 401)
    assert_error(await casino.client.post(f"{API}/actions/SLOT_SPIN", json={"bet": 1}), 401)
