"""Rewards: a grant is made once per `(member, idempotency_key)`, also by 50 clients at once;
a replay answers the original grant, the key with another body is refused; every refusal
writes nothing; the history is yours alone, newest first; an admin reverses a grant once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from ensemble.apps.casino import service as casino_service
from ensemble.apps.casino.domain import COINS, GEMS, STREAK_SHIELD, Rank, RewardKind
from ensemble.apps.casino.inventory import service as inventory
from ensemble.apps.casino.rewards import service as rewards
from ensemble.apps.casino.rewards.models import Reward
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.kernel.ledger import service as ledger
from ensemble.kernel.ledger.models import Account, Entry
from tests.apicheck import assert_error, snapshot
from tests.apps.casino.conftest import API, WRITTEN, CasinoWorld, Member

SIGNUP_COINS = CasinoSettings().signup_coins
REWARDS = f"{API}/rewards"
TOUCHED = (*WRITTEN, "casino.rewards", "casino.inventory")
"""Every table a grant could write: equal snapshots mean a refusal wrote nothing."""


def coins(user: Member, amount: int = 250, key: str = "gift-1", **more: Any) -> dict[str, Any]:
    body = {
        "user_id": str(user.user_id),
        "kind": "coins",
        "amount": amount,
        "reason": "welcome gift",
        "idempotency_key": key,
    }
    return body | more


async def wallet(casino: CasinoWorld, user: Member) -> dict[str, int]:
    async with casino.database.sessionmaker() as session:
        return await casino_service.wallet(session, user.user_id)


async def reward_entries(casino: CasinoWorld, user: Member) -> list[Entry]:
    """The member's ledger entries made by rewards (any currency)."""
    async with casino.database.sessionmaker() as session:
        found = await session.scalars(
            select(Entry)
            .join(Account, Account.id == Entry.account_id)
            .where(Account.owner_id == user.user_id, Entry.reference_type == "casino.reward")
        )
        return list(found)


async def test_an_admin_grants_coins_through_the_ledger(casino: CasinoWorld) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    answer = await casino.client.post(REWARDS, json=coins(member), headers=admin.headers)
    assert answer.status_code == 201, answer.text
    reward = answer.json()
    assert reward | {"reward_id": None, "created_at": None} == {
        "reward_id": None,
        "user_id": str(member.user_id),
        "kind": "coins",
        "amount": 250,
        "item_id": None,
        "quantity": None,
        "reason": "welcome gift",
        "idempotency_key": "gift-1",
        "granted_by": str(admin.user_id),
        "created_at": None,
        "reversed_at": None,
        "reverse_reason": None,
    }
    assert await wallet(casino, member) == {COINS: SIGNUP_COINS + 250, GEMS: 0}
    [entry] = await reward_entries(casino, member)
    assert (entry.reason, entry.idempotency_key, entry.reference_id, entry.description) == (
        "reward",
        "reward:gift-1",
        reward["reward_id"],
        "welcome gift",
    )


async def test_gems_and_items_are_granted_too(casino: CasinoWorld) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    gems = coins(member, 30, "gems-1", kind="gems")
    item = coins(member, key="shield-1", kind="item", item_id=STREAK_SHIELD, quantity=2)
    del item["amount"]
    for body in (gems, item):
        answer = await casino.client.post(REWARDS, json=body, headers=admin.headers)
        assert answer.status_code == 201, answer.text
    assert await wallet(casino, member) == {COINS: SIGNUP_COINS, GEMS: 30}
    async with casino.database.sessionmaker() as session:
        assert await inventory.quantity(session, member.user_id, STREAK_SHIELD) == 2


async def test_fifty_clients_sending_one_key_make_one_grant(casino: CasinoWorld) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    answers = await asyncio.gather(
        *(casino.client.post(REWARDS, json=coins(member), headers=admin.headers) for _ in range(50))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 49 + [201], [a.text for a in answers if a.status_code >= 300]
    assert len({answer.json()["reward_id"] for answer in answers}) == 1
    assert await wallet(casino, member) == {COINS: SIGNUP_COINS + 250, GEMS: 0}
    assert len(await reward_entries(casino, member)) == 1
    async with casino.database.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(Reward))
    assert count == 1


async def test_a_replay_answers_the_original_grant(casino: CasinoWorld) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    first = await casino.client.post(REWARDS, json=coins(member), headers=admin.headers)
    before = await snapshot(casino.database, TOUCHED)
    again = await casino.client.post(REWARDS, json=coins(member), headers=admin.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert await snapshot(casino.database, TOUCHED) == before


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 251},
        {"kind": "gems"},
        {"reason": "another reason"},
        {"kind": "item", "amount": None, "item_id": STREAK_SHIELD, "quantity": 1},
    ],
)
async def test_the_key_with_another_body_is_refused(
    casino: CasinoWorld, change: dict[str, Any]
) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    first = await casino.client.post(REWARDS, json=coins(member), headers=admin.headers)
    assert first.status_code == 201, first.text
    before = await snapshot(casino.database, TOUCHED)
    body = {key: value for key, value in (coins(member) | change).items() if value is not None}
    answer = await casino.client.post(REWARDS, json=body, headers=admin.headers)
    error = assert_error(answer, 409, "idempotency_key_reused")
    assert error["details"] == {"idempotency_key": "gift-1", "reward_id": first.json()["reward_id"]}
    assert await snapshot(casino.database, TOUCHED) == before


async def test_one_key_is_one_grant_per_member(casino: CasinoWorld) -> None:
    admin, alice, bob = (
        await casino.member(Rank.ADMIN),
        await casino.member(),
        await casino.member(),
    )
    for member in (alice, bob):
        answer = await casino.client.post(REWARDS, json=coins(member), headers=admin.headers)
        assert answer.status_code == 201, answer.text
    assert (await wallet(casino, alice))[COINS] == (await wallet(casino, bob))[COINS]


BAD_BODIES: list[tuple[dict[str, Any], int, str]] = [
    ({"user_id": str(uuid.uuid4())}, 404, "user_not_found"),
    (
        {"kind": "item", "amount": None, "item_id": "no-such-item", "quantity": 1},
        404,
        "item_not_found",
    ),
    ({"amount": None}, 422, "invalid_reward"),
    ({"item_id": STREAK_SHIELD}, 422, "invalid_reward"),
    ({"quantity": 1}, 422, "invalid_reward"),
    ({"kind": "item", "item_id": STREAK_SHIELD, "quantity": 1}, 422, "invalid_reward"),
    ({"kind": "item", "amount": None, "item_id": STREAK_SHIELD}, 422, "invalid_reward"),
    ({"kind": "item", "amount": None, "quantity": 1}, 422, "invalid_reward"),
    ({"amount": 0}, 422, "validation_error"),
    ({"amount": -5}, 422, "validation_error"),
    ({"amount": "5"}, 422, "validation_error"),
    ({"amount": 2**63}, 422, "validation_error"),
    ({"kind": "diamonds"}, 422, "validation_error"),
    ({"user_id": "not-a-uuid"}, 422, "validation_error"),
    ({"reason": ""}, 422, "validation_error"),
    ({"idempotency_key": ""}, 422, "validation_error"),
    ({"idempotency_key": "daily-login:2026-01-01"}, 422, "validation_error"),
    ({"idempotency_key": "k" * 101}, 422, "validation_error"),
    ({"surprise": True}, 422, "validation_error"),
]


@pytest.mark.parametrize(("change", "status", "code"), BAD_BODIES)
async def test_a_refused_grant_writes_nothing(
    casino: CasinoWorld, change: dict[str, Any], status: int, code: str
) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    body = {key: value for key, value in (coins(member) | change).items() if value is not None}
    before = await snapshot(casino.database, TOUCHED)
    answer = await casino.client.post(REWARDS, json=body, headers=admin.headers)
    assert_error(answer, status, code)
    assert await snapshot(casino.database, TOUCHED) == before


async def test_the_system_grants_through_the_service(casino: CasinoWorld) -> None:
    member = await casino.member()

    async def grant() -> rewards.Granted:
        async with casino.database.unit_of_work() as session:
            return await rewards.grant(
                session,
                user_id=member.user_id,
                kind=RewardKind.ITEM,
                item_id=STREAK_SHIELD,
                quantity=1,
                reason="achievement:first-spin",
                idempotency_key="achievement:first-spin",
            )

    outcomes = await asyncio.gather(*(grant() for _ in range(20)))
    assert [outcome.replayed for outcome in outcomes].count(False) == 1
    assert {outcome.reward.granted_by for outcome in outcomes} == {None}
    async with casino.database.sessionmaker() as session:
        assert await inventory.quantity(session, member.user_id, STREAK_SHIELD) == 1


# the history


async def test_the_history_is_yours_newest_first_and_paged(casino: CasinoWorld) -> None:
    admin, member, other = (
        await casino.member(Rank.ADMIN),
        await casino.member(),
        await casino.member(),
    )
    for n, kind in enumerate(["coins", "gems", "coins"]):
        body = coins(member, 10 + n, f"k{n}", kind=kind)
        assert (await casino.client.post(REWARDS, json=body, headers=admin.headers)).is_success
    await casino.client.post(REWARDS, json=coins(other, key="theirs"), headers=admin.headers)

    first = await casino.client.get(f"{REWARDS}/history?limit=2", headers=member.headers)
    assert first.status_code == 200, first.text
    page = first.json()
    cursor = page["next_cursor"]
    rest = await casino.client.get(
        f"{REWARDS}/history", params={"limit": 2, "cursor": cursor}, headers=member.headers
    )
    keys = [r["idempotency_key"] for r in page["items"] + rest.json()["items"]]
    assert keys == ["k2", "k1", "k0"]
    assert rest.json()["next_cursor"] is None

    only_gems = await casino.client.get(f"{REWARDS}/history?kind=gems", headers=member.headers)
    assert [r["idempotency_key"] for r in only_gems.json()["items"]] == ["k1"]
    theirs = await casino.client.get(f"{REWARDS}/history", headers=other.headers)
    assert [r["idempotency_key"] for r in theirs.json()["items"]] == ["theirs"]


@pytest.mark.parametrize("query", ["kind=diamonds", "limit=0", "limit=101", "cursor=%%%"])
async def test_a_bad_history_query_is_a_422(casino: CasinoWorld, query: str) -> None:
    member = await casino.member()
    assert_error(await casino.client.get(f"{REWARDS}/history?{query}", headers=member.headers), 422)


# reversal


def reverse_path(reward_id: str) -> str:
    return f"{API}/admin/rewards/{reward_id}/reverse"


async def test_an_admin_reverses_a_grant_once(casino: CasinoWorld) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    granted = await casino.client.post(REWARDS, json=coins(member), headers=admin.headers)
    path = reverse_path(granted.json()["reward_id"])
    answers = await asyncio.gather(
        *(
            casino.client.post(path, json={"reason": "granted by mistake"}, headers=admin.headers)
            for _ in range(10)
        )
    )
    assert sorted(answer.status_code for answer in answers) == [200] + [409] * 9
    for answer in answers:
        if answer.status_code == 409:
            assert_error(answer, 409, "reward_already_reversed")
        else:
            assert answer.json()["reverse_reason"] == "granted by mistake"
            assert answer.json()["reversed_at"] is not None
    assert await wallet(casino, member) == {COINS: SIGNUP_COINS, GEMS: 0}
    assert [e.direction for e in await reward_entries(casino, member)] == ["EARN", "SPEND"]


async def test_a_reversal_the_member_cannot_pay_back_writes_nothing(casino: CasinoWorld) -> None:
    admin, member = await casino.member(Rank.ADMIN), await casino.member()
    gems = coins(member, 30, kind="gems")
    shield = coins(member, key="shield", kind="item", item_id=STREAK_SHIELD, quantity=1)
    del shield["amount"]
    gem_grant = await casino.client.post(REWARDS, json=gems, headers=admin.headers)
    item_grant = await casino.client.post(REWARDS, json=shield, headers=admin.headers)
    async with casino.database.unit_of_work() as session:  # the member spent both
        await inventory.take(session, member.user_id, STREAK_SHIELD)
        account = await session.scalar(
            select(Account).where(Account.owner_id == member.user_id, Account.currency == GEMS)
        )
        assert account is not None
        await ledger.spend(session, account_id=account.id, amount=1, reason="gacha")
    before = await snapshot(casino.database, TOUCHED)
    for grant, code in ((gem_grant, "insufficient_balance"), (item_grant, "not_enough_items")):
        path = reverse_path(grant.json()["reward_id"])
        answer = await casino.client.post(path, json={"reason": "oops"}, headers=admin.headers)
        assert_error(answer, 409, code)
    assert await snapshot(casino.database, TOUCHED) == before


async def test_reversing_an_unknown_reward_is_a_404(casino: CasinoWorld) -> None:
    admin = await casino.member(Rank.ADMIN)
    answer = await casino.client.post(
        reverse_path(str(uuid.uuid4())), json={"reason": "x"}, headers=admin.headers
    )
    assert_error(answer, 404, "reward_not_found")
    bad = await casino.client.post(
        reverse_path("nope"), json={"reason": "x"}, headers=admin.headers
    )
    assert_error(bad, 422)


# authorization (every route's bad tokens: test_auth_matrix.py)


@pytest.mark.parametrize("rank", [Rank.STANDARD, Rank.PREMIUM, Rank.VIP])
async def test_granting_and_reversing_need_an_admin(casino: CasinoWorld, rank: Rank) -> None:
    admin, caller = await casino.member(Rank.ADMIN), await casino.member(rank)
    granted = await casino.client.post(REWARDS, json=coins(caller), headers=admin.headers)
    before = await snapshot(casino.database, TOUCHED)
    own = await casino.client.post(REWARDS, json=coins(caller, key="me"), headers=caller.headers)
    assert_error(own, 403, "rank_forbidden")
    path = reverse_path(granted.json()["reward_id"])
    back = await casino.client.post(path, json={"reason": "x"}, headers=caller.headers)
    assert_error(back, 403, "rank_forbidden")
    assert await snapshot(casino.database, TOUCHED) == before
