"""Profiles: full for yourself, limited for others, 404 for unknown ids."""

from __future__ import annotations

import uuid

from ensemble.apps.casino.settings import CasinoSettings
from tests.apicheck import assert_error
from tests.apps.casino.conftest import API, CasinoWorld


async def test_your_own_profile_is_full(casino: CasinoWorld) -> None:
    member = await casino.member()
    answer = await casino.client.get(
        f"{API}/users/{member.user_id}/profile", headers=member.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "user_id": str(member.user_id),
        "nickname": member.nickname,
        "rank": "STANDARD",
        "vip_tier": 0,
        "coins": CasinoSettings().signup_coins,
        "gems": 0,
        "streak": 1,  # the sign-up day is the first day of the login streak
        "stats": {"games_played": 0, "wins": 0},
        "achievements": [],
        "is_own_profile": True,
    }


async def test_anothers_profile_is_limited(casino: CasinoWorld) -> None:
    alice, bob = await casino.member(), await casino.member()
    answer = await casino.client.get(f"{API}/users/{bob.user_id}/profile", headers=alice.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "user_id": str(bob.user_id),
        "nickname": bob.nickname,
        "rank": "STANDARD",
        "stats": {"games_played": 0, "wins": 0},
        "is_own_profile": False,
    }


async def test_an_unknown_profile_is_a_404_and_a_profile_needs_a_token(
    casino: CasinoWorld,
) -> None:
    member = await casino.member()
    unknown = await casino.client.get(f"{API}/users/{uuid.uuid4()}/profile", headers=member.headers)
    assert_error(unknown, 404, "user_not_found")
    assert_error(await casino.client.get(f"{API}/users/{member.user_id}/profile"), 401)
    bad = await casino.client.get(f"{API}/users/nope/profile", headers=member.headers)
    assert_error(bad, 422)
