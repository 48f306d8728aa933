"""Invite codes: the forever code, single-use codes consumed atomically, `check-invite`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ensemble.apps.casino.models import InviteCode, User
from ensemble.kernel.db import utcnow
from ensemble.kernel.identity.models import Account
from ensemble.kernel.ledger.models import Account as LedgerAccount
from tests.apicheck import assert_error, snapshot
from tests.apps.casino.conftest import API, FOREVER, WRITTEN, CasinoWorld, new_nickname


async def test_check_invite_reasons(casino: CasinoWorld) -> None:
    codes = {
        "fresh": await casino.invite(),
        "used": await casino.invite(uses=1),
        "inactive": await casino.invite(is_active=False),
        "expired": await casino.invite(expires_at=utcnow() - timedelta(seconds=1)),
        "unknown": "NOSUCHCODE",
        "forever": FOREVER,
    }
    answers = {}
    for name, code in codes.items():
        response = await casino.client.get(f"{API}/auth/check-invite/{code}")
        assert response.status_code == 200, response.text
        answers[name] = response.json()
    assert answers == {
        "fresh": {"valid": True, "infinite": False, "reason": None},
        "used": {"valid": False, "infinite": False, "reason": "used"},
        "inactive": {"valid": False, "infinite": False, "reason": "inactive"},
        "expired": {"valid": False, "infinite": False, "reason": "expired"},
        "unknown": {"valid": False, "infinite": False, "reason": "unknown"},
        "forever": {"valid": True, "infinite": True, "reason": None},
    }


async def test_check_invite_refuses_a_malformed_code(casino: CasinoWorld) -> None:
    assert_error(await casino.client.get(f"{API}/auth/check-invite/a%00b"), 422)
    assert_error(await casino.client.get(f"{API}/auth/check-invite/{'A' * 33}"), 422)


async def test_a_single_use_code_signs_up_once_then_reads_used(casino: CasinoWorld) -> None:
    code = await casino.invite()
    first = await casino.sign_up(new_nickname(), code)
    assert first.status_code == 201, first.text
    assert_error(await casino.sign_up(new_nickname(), code), 409, "invite_used")
    check = await casino.client.get(f"{API}/auth/check-invite/{code}")
    assert check.json() == {"valid": False, "infinite": False, "reason": "used"}
    async with casino.database.unit_of_work() as session:
        invite = await session.get(InviteCode, code)
        assert invite is not None
        assert (invite.uses, str(invite.used_by)) == (1, first.json()["user"]["user_id"])
        assert invite.used_at is not None


async def refused_code(casino: CasinoWorld, reason: str) -> str:
    """A code refused for `reason`."""
    if reason == "unknown":
        return "NOSUCHCODE"
    if reason == "used":
        return await casino.invite(uses=1)
    if reason == "inactive":
        return await casino.invite(is_active=False)
    return await casino.invite(expires_at=utcnow() - timedelta(minutes=1))


@pytest.mark.parametrize("reason", ["unknown", "used", "inactive", "expired"])
async def test_a_refused_code_writes_nothing(casino: CasinoWorld, reason: str) -> None:
    code = await refused_code(casino, reason)
    before = await snapshot(casino.database, WRITTEN)
    refused = assert_error(await casino.sign_up(new_nickname(), code), 409, f"invite_{reason}")
    assert refused["details"] == {"reason": reason}
    assert await snapshot(casino.database, WRITTEN) == before


async def test_fifty_parallel_sign_ups_with_one_code_make_one_account(
    casino: CasinoWorld,
) -> None:
    code = await casino.invite()
    nicknames = [new_nickname() for _ in range(50)]
    answers = await asyncio.gather(*(casino.sign_up(nickname, code) for nickname in nicknames))
    won = [answer for answer in answers if answer.status_code == 201]
    assert len(won) == 1, [answer.text for answer in answers]
    for answer in answers:
        if answer.status_code != 201:
            assert_error(answer, 409, "invite_used")
    winner = won[0].json()["user"]
    async with casino.database.unit_of_work() as session:
        members = (await session.scalars(select(User.nickname))).all()
        accounts = await session.scalar(select(func.count()).select_from(Account))
        wallets = await session.scalar(select(func.count()).select_from(LedgerAccount))
        invite = await session.get(InviteCode, code)
    assert members == [winner["nickname"]]
    assert (accounts, wallets) == (1, 1)  # the 49 refused sign-ups left nothing behind
    assert invite is not None
    assert (invite.uses, str(invite.used_by)) == (1, winner["user_id"])


async def test_the_forever_code_signs_up_many_and_is_never_spent(casino: CasinoWorld) -> None:
    answers = await asyncio.gather(*(casino.sign_up(new_nickname()) for _ in range(10)))
    assert [answer.status_code for answer in answers] == [201] * 10
    check = await casino.client.get(f"{API}/auth/check-invite/{FOREVER}")
    assert check.json() == {"valid": True, "infinite": True, "reason": None}
    async with casino.database.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(InviteCode)) == 0
        codes = (await session.scalars(select(User.invite_code))).all()
    assert codes == [FOREVER] * 10
