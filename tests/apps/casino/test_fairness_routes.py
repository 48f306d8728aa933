"""Fairness state over HTTP: the commitment published before play, client seeds (setting one
starts a new pair), rotation revealing the committed seed, revealed seeds paginated,
verification (mismatch refused), distinct nonces under concurrency, and tokens."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from tests.apicheck import assert_error
from tests.apps.casino.conftest import API, CasinoWorld
from tests.apps.casino.plays import committed, pull, rotate, spin


async def test_the_commitment_is_published_before_any_play(casino: CasinoWorld) -> None:
    member = await casino.member()
    first = (await casino.client.get(f"{API}/fairness", headers=member.headers)).json()
    again = (await casino.client.get(f"{API}/fairness", headers=member.headers)).json()
    assert first == again
    assert len(first["server_seed_hash"]) == 64
    assert first["next_nonce"] == 1
    assert "server_seed" not in first
    await spin(casino, member, 1)
    after = (await casino.client.get(f"{API}/fairness", headers=member.headers)).json()
    assert after["next_nonce"] == 2
    assert after["server_seed_hash"] == first["server_seed_hash"]


async def test_rotation_reveals_the_committed_seed_and_commits_a_new_one(
    casino: CasinoWorld,
) -> None:
    member = await casino.member()
    before = (await casino.client.get(f"{API}/fairness", headers=member.headers)).json()
    await spin(casino, member, 1)
    rotation = await rotate(casino, member)
    revealed, current = rotation["revealed"], rotation["current"]
    assert committed(revealed)
    assert revealed["server_seed_hash"] == before["server_seed_hash"]
    assert revealed["client_seed"] == before["client_seed"] == current["client_seed"]
    assert revealed["last_nonce"] == 1
    assert current["server_seed_hash"] != revealed["server_seed_hash"]
    assert current["next_nonce"] == 1
    assert (await spin(casino, member, 1)).json()["nonce"] == 1


async def test_setting_a_client_seed_starts_a_new_pair(casino: CasinoWorld) -> None:
    member = await casino.member()
    before = (await casino.client.get(f"{API}/fairness", headers=member.headers)).json()
    answer = await casino.client.put(
        f"{API}/fairness/client-seed",
        json={"client_seed": "my-lucky_seed!"},
        headers=member.headers,
    )
    assert answer.status_code == 200, answer.text
    rotation = answer.json()
    assert rotation["revealed"]["server_seed_hash"] == before["server_seed_hash"]
    assert rotation["current"]["client_seed"] == "my-lucky_seed!"
    now = (await casino.client.get(f"{API}/fairness", headers=member.headers)).json()
    assert now == rotation["current"]


@pytest.mark.parametrize("seed", ["", "a:b", "with space", "x" * 65, "é", 7, None])
async def test_a_bad_client_seed_is_refused(casino: CasinoWorld, seed: object) -> None:
    member = await casino.member()
    before = (await casino.client.get(f"{API}/fairness", headers=member.headers)).json()
    answer = await casino.client.put(
        f"{API}/fairness/client-seed", json={"client_seed": seed}, headers=member.headers
    )
    assert_error(answer, 422)
    assert (await casino.client.get(f"{API}/fairness", headers=member.headers)).json() == before


async def test_revealed_seeds_are_listed_latest_first_in_pages(casino: CasinoWorld) -> None:
    member, other = await casino.member(), await casino.member()
    hashes = [(await rotate(casino, member))["revealed"]["server_seed_hash"] for _ in range(3)]
    await rotate(casino, other)
    first = await casino.client.get(
        f"{API}/fairness/seeds", params={"limit": 2}, headers=member.headers
    )
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    second = await casino.client.get(
        f"{API}/fairness/seeds", params={"limit": 2, "cursor": cursor}, headers=member.headers
    )
    listed = [p["server_seed_hash"] for p in first.json()["items"] + second.json()["items"]]
    assert listed == hashes[::-1]
    assert second.json()["next_cursor"] is None
    assert_error(
        await casino.client.get(
            f"{API}/fairness/seeds", params={"cursor": "garbage!"}, headers=member.headers
        ),
        422,
    )


async def test_concurrent_plays_get_distinct_nonces(casino: CasinoWorld) -> None:
    member = await casino.member()
    answers = await asyncio.gather(
        *(spin(casino, member, 1) for _ in range(15)),
        *(pull(casino, member, "standard", 1) for _ in range(5)),
    )
    assert {a.status_code for a in answers} == {200}
    assert sorted(a.json()["nonce"] for a in answers) == list(range(1, 21))


def verify_params(**changes: str | int | None) -> dict[str, str | int]:
    seed = "9f2c4b7e1a0d3c5b8e6f7a2d4c1b0e9f3a5d7c2b4e6f8a1c3d5b7e9f0a2c4b6d"
    params: dict[str, str | int | None] = {
        "server_seed": seed,
        "server_seed_hash": hashlib.sha256(seed.encode()).hexdigest(),
        "client_seed": "lucky-7",
        "nonce": 2,
        "table_version": 1,
        "game": "slot",
        "bet": 10,
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


async def test_verify_recomputes_the_documented_example(casino: CasinoWorld) -> None:
    member = await casino.member()
    answer = await casino.client.get(
        f"{API}/fairness/verify", params=verify_params(), headers=member.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"reels": ["BAR", "CHERRY", "CHERRY"], "multiplier": 2, "win": 20}


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"server_seed_hash": "0" * 64}, 422, "server_seed_mismatch"),
        ({"server_seed": "not-the-seed"}, 422, "server_seed_mismatch"),
        ({"table_version": 9}, 404, "paytable_not_found"),
        ({"game": "gacha"}, 422, "validation_error"),
        ({"game": "gacha", "banner_id": "no-such-banner"}, 404, "banner_not_found"),
        ({"game": "gacha", "banner_id": "standard", "table_version": 99}, 404,
         "rate_table_not_found"),
        ({"game": "poker"}, 422, None),
        ({"nonce": -1}, 422, None),
        ({"client_seed": "a:b"}, 422, None),
        ({"server_seed_hash": "xyz"}, 422, None),
        ({"count": 3, "game": "gacha", "banner_id": "standard"}, 422, None),
    ],
)  # fmt: skip
async def test_verify_refuses_bad_input(
    casino: CasinoWorld, changes: dict[str, str | int | None], status: int, code: str | None
) -> None:
    member = await casino.member()
    answer = await casino.client.get(
        f"{API}/fairness/verify", params=verify_params(**changes), headers=member.headers
    )
    assert_error(answer, status, code)


async def test_the_fairness_routes_need_a_token(casino: CasinoWorld) -> None:
    client = casino.client
    assert_error(await client.get(f"{API}/fairness"), 401)
    assert_error(await client.put(f"{API}/fairness/client-seed", json={"client_seed": "a"}), 401)
    assert_error(await client.post(f"{API}/fairness/rotate"), 401)
    assert_error(await client.get(f"{API}/fairness/seeds"), 401)
    assert_error(await client.get(f"{API}/fairness/verify", params=verify_params()), 401)
