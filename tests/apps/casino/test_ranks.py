"""Ranks: `STANDARD < PREMIUM < VIP`, `ADMIN` above all; a route's lowest rank answers 401
without a valid token and 403 below it, the rank read live."""

from __future__ import annotations

import uuid

import pytest

from ensemble.apps.casino.auth import RankTooLow, require_rank
from ensemble.apps.casino.domain import Rank
from ensemble.kernel.identity.principal import Principal
from tests.apicheck import assert_error, bearer, mint
from tests.apps.casino.conftest import API, CasinoWorld

ORDER = [Rank.STANDARD, Rank.PREMIUM, Rank.VIP, Rank.ADMIN]


@pytest.mark.parametrize("lowest", ORDER)
@pytest.mark.parametrize("rank", ORDER)
async def test_require_rank_lets_through_the_rank_and_above(rank: Rank, lowest: Rank) -> None:
    caller = Principal(uuid.uuid4(), "casino", rank.value, {})
    check = require_rank(lowest)
    if ORDER.index(rank) >= ORDER.index(lowest):
        assert await check(caller) is caller
    else:
        with pytest.raises(RankTooLow):
            await check(caller)


def force_logout_of(user_id: uuid.UUID) -> str:
    return f"{API}/admin/users/{user_id}/force-logout"


async def test_the_admin_route_answers_401_without_a_valid_token(casino: CasinoWorld) -> None:
    member = await casino.member()
    path = force_logout_of(member.user_id)
    assert_error(await casino.client.post(path), 401, "not_authenticated")
    for forged in (
        mint(casino, member.user_id, realm="casino", secret="another key of forty characters!!"),
        mint(casino, member.user_id, realm="focus", role="ADMIN"),  # another app's token
        "not-a-token",
    ):
        assert_error(await casino.client.post(path, headers=bearer(forged)), 401)


@pytest.mark.parametrize("rank", [Rank.STANDARD, Rank.PREMIUM, Rank.VIP])
async def test_the_admin_route_answers_403_below_admin(casino: CasinoWorld, rank: Rank) -> None:
    caller, target = await casino.member(rank), await casino.member()
    answer = await casino.client.post(force_logout_of(target.user_id), headers=caller.headers)
    error = assert_error(answer, 403, "rank_forbidden")
    assert error["details"] == {"required": "ADMIN", "rank": rank.value}
    me = await casino.client.get(f"{API}/auth/me", headers=target.headers)
    assert me.status_code == 200  # nothing was revoked


async def test_a_rank_change_applies_to_live_tokens(casino: CasinoWorld) -> None:
    caller, target = await casino.member(), await casino.member()
    path = force_logout_of(target.user_id)
    assert_error(await casino.client.post(path, headers=caller.headers), 403)
    await casino.set_rank(caller.user_id, Rank.ADMIN)
    assert (await casino.client.post(path, headers=caller.headers)).status_code == 204
    await casino.set_rank(caller.user_id, Rank.VIP)
    assert_error(await casino.client.post(path, headers=caller.headers), 403, "rank_forbidden")


async def test_a_token_claiming_admin_gives_no_more_than_the_stored_rank(
    casino: CasinoWorld,
) -> None:
    member, target = await casino.member(), await casino.member()
    token = mint(casino, member.user_id, realm="casino", role="ADMIN")
    answer = await casino.client.post(force_logout_of(target.user_id), headers=bearer(token))
    assert_error(answer, 403, "rank_forbidden")
