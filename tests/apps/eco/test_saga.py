"""The saga end to end on the real stack: the API in-process, the worker, scheduler, relay
and consumers as processes."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

from tests.apps.eco.conftest import API, MAX_CHARACTERS, EcoWorld, all_settled
from tests.polling import eventually
from tests.processes import running

ELIGIBLE = ("plastic", "paper", "can", "glass")
WORDS = {"plastic": "페트병", "paper": "종이 박스", "can": "알루미늄 캔", "glass": "유리병"}


async def test_happy_path_grants_a_character_and_tells_the_user(
    eco: EcoWorld, saga_processes: dict[str, subprocess.Popen[bytes]]
) -> None:
    user = await eco.user()
    accepted = await eco.classify(user, key="k1", user_input="다 마신 페트병이에요")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "processing"
    task = await eco.settled(user, accepted.json()["task_id"])
    assert task["status"] == "completed"
    assert task["category"] == "plastic"
    assert task["reward"]["status"] == "granted"
    assert task["reward"]["character"]["code"] == "petty"
    assert task["disposal_guide"]["category"] == "plastic"

    owned = await eco.client.get(f"{API}/characters/me", headers=user.headers)
    assert [c["code"] for c in owned.json()["items"]] == ["petty"]

    async def notifications() -> list[dict[str, Any]]:
        response = await eco.client.get(f"{API}/notifications", headers=user.headers)
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    told = await eventually(notifications, lambda items: len(items) == 1)
    assert told[0]["kind"] == "character_acquired"
    profile = await eco.client.get(f"{API}/my/profile", headers=user.headers)
    assert profile.json()["total_scans"] == 1
    assert profile.json()["total_characters"] == 1


async def test_a_user_at_the_limit_is_compensated_and_told(
    eco: EcoWorld, saga_processes: dict[str, subprocess.Popen[bytes]]
) -> None:
    user = await eco.user()
    for category in ELIGIBLE[:MAX_CHARACTERS]:
        accepted = await eco.classify(user, user_input=WORDS[category])
        task = await eco.settled(user, accepted.json()["task_id"])
        assert task["reward"]["status"] == "granted", task
    over = await eco.classify(user, user_input=WORDS[ELIGIBLE[MAX_CHARACTERS]])
    task = await eco.settled(user, over.json()["task_id"])
    assert task["reward"] == {
        "status": "failed",
        "character": None,
        "reason": "max_characters_reached",
    }
    owned = await eco.client.get(f"{API}/characters/me", headers=user.headers)
    assert owned.json()["total"] == MAX_CHARACTERS


CONCURRENT = (
    "페트병",
    "종이 박스",
    "알루미늄 캔",
    "유리병",
    "과자봉지",
    "스티로폼",
    "신문지",
    "플라스틱 컵",
)
"""Eight eligible scans (six categories, two of them twice) for one user at once."""


async def test_concurrent_scans_of_one_user_grant_up_to_the_limit_and_compensate_the_rest(
    eco: EcoWorld,
    saga_processes: dict[str, subprocess.Popen[bytes]],
    process_env: dict[str, str],
) -> None:
    user = await eco.user()
    # a second consumer process splits the streams with the first: rewards of one user are
    # decided by two processes at once, racing on the ownership stream
    with running("consume", process_env):
        accepted = await asyncio.gather(*(eco.classify(user, user_input=t) for t in CONCURRENT))
        assert all(response.status_code == 202 for response in accepted)
        facts = await all_settled(eco.database, [user.user_id])
    facts.check(MAX_CHARACTERS)
    assert facts.outcomes() == {
        "granted": MAX_CHARACTERS,
        "failed:max_characters_reached": len(CONCURRENT) - MAX_CHARACTERS,
    }

    async def my_rank() -> list[dict[str, Any]]:
        response = await eco.client.get(
            f"{API}/characters/ranking", params={"limit": 100}, headers=user.headers
        )
        assert response.status_code == 200, response.text
        return [item for item in response.json()["items"] if item["me"]]

    [me] = await eventually(
        my_rank, lambda mine: len(mine) == 1 and mine[0]["characters"] == MAX_CHARACTERS
    )
    assert me["user_id"] == str(user.user_id)
    owned = await eco.client.get(f"{API}/characters/me", headers=user.headers)
    assert owned.json()["total"] == MAX_CHARACTERS
