"""Accounts: sign-up (tokens, the rank, the sign-up coins), login by nickname, refresh,
logout, `/auth/me`, nickname rules."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from ensemble.apps.casino.domain import COINS
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.kernel.ledger import service as ledger
from ensemble.kernel.ledger.models import Entry
from tests.apicheck import assert_error, bearer, snapshot
from tests.apps.casino.conftest import API, PASSWORD, WRITTEN, CasinoWorld, new_nickname

SIGNUP_COINS = CasinoSettings().signup_coins


async def test_sign_up_logs_in_a_standard_member_with_the_sign_up_coins(
    casino: CasinoWorld,
) -> None:
    nickname = new_nickname()
    response = await casino.sign_up(nickname)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    user = body["user"]
    assert (user["nickname"], user["rank"], user["coins"], user["gems"]) == (
        nickname,
        "STANDARD",
        SIGNUP_COINS,
        0,
    )
    me = await casino.client.get(f"{API}/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json() == user


async def test_the_sign_up_grant_is_one_ledger_entry_of_the_member(casino: CasinoWorld) -> None:
    member = await casino.member()
    async with casino.database.unit_of_work() as session:
        account = await ledger.find_account(
            session, realm="casino", owner_id=member.user_id, currency=COINS
        )
        assert account is not None
        entries = (await session.scalars(select(Entry).where(Entry.account_id == account.id))).all()
        assert [(e.amount, e.reason, e.idempotency_key) for e in entries] == [
            (SIGNUP_COINS, "sign_up", "sign-up")
        ]
        assert await ledger.verify_chain(session, account.id) == []


async def test_login_is_by_nickname_in_any_case_and_sets_last_login(casino: CasinoWorld) -> None:
    nickname = new_nickname()
    signed_up = await casino.sign_up(nickname)
    assert signed_up.json()["user"]["last_login_at"] is None
    tokens = await casino.login(nickname.upper())
    assert tokens["expires_in"] == 30 * 60
    me = (await casino.client.get(f"{API}/auth/me", headers=bearer(tokens["access_token"]))).json()
    assert me["nickname"] == nickname
    assert me["last_login_at"] is not None


async def test_login_refuses_a_wrong_password_or_an_unknown_nickname(casino: CasinoWorld) -> None:
    member = await casino.member()
    for nickname, password in ((member.nickname, "wrong password"), (new_nickname(), PASSWORD)):
        body = {"nickname": nickname, "password": password}
        refused = await casino.client.post(f"{API}/auth/login", json=body)
        assert_error(refused, 401, "invalid_credentials")
    assert_error(await casino.client.post(f"{API}/auth/login", json={"email": "a@b.c"}), 422)


async def test_refresh_rotates_and_a_reused_token_revokes_the_session(casino: CasinoWorld) -> None:
    member = await casino.member()
    old = {"refresh_token": member.refresh_token}
    rotated = await casino.client.post(f"{API}/auth/refresh", json=old)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["expires_in"] == 30 * 60
    assert_error(await casino.client.post(f"{API}/auth/refresh", json=old), 401)
    new_access = bearer(rotated.json()["access_token"])
    assert_error(await casino.client.get(f"{API}/auth/me", headers=new_access), 401)


async def test_logout_ends_the_session(casino: CasinoWorld) -> None:
    member = await casino.member()
    body = {"refresh_token": member.refresh_token}
    out = await casino.client.post(f"{API}/auth/logout", json=body, headers=member.headers)
    assert out.status_code == 204, out.text
    assert_error(await casino.client.get(f"{API}/auth/me", headers=member.headers), 401)
    assert_error(await casino.client.post(f"{API}/auth/refresh", json=body), 401)


async def test_me_needs_a_token(casino: CasinoWorld) -> None:
    assert_error(await casino.client.get(f"{API}/auth/me"), 401, "not_authenticated")


@pytest.mark.parametrize(
    "nickname", ["a", "x" * 21, "two words", "at@sign", "", "nul\x00l", "줄\n바꿈"]
)
async def test_a_nickname_out_of_bounds_is_refused_and_writes_nothing(
    casino: CasinoWorld, nickname: str
) -> None:
    before = await snapshot(casino.database, WRITTEN)
    assert_error(await casino.sign_up(nickname), 422, "validation_error")
    assert await snapshot(casino.database, WRITTEN) == before


@pytest.mark.parametrize("nickname", ["ab", "x" * 20, "카지노왕", "ace_of-spades"])
async def test_nicknames_within_bounds_sign_up(casino: CasinoWorld, nickname: str) -> None:
    assert (await casino.sign_up(nickname)).status_code == 201


async def test_bad_bodies_are_refused(casino: CasinoWorld) -> None:
    good = {"invite_code": "5858", "nickname": new_nickname(), "password": PASSWORD}
    for bad in (
        {**good, "password": "short"},
        {**good, "extra": 1},
        {**good, "invite_code": 5858},
        {key: value for key, value in good.items() if key != "invite_code"},
    ):
        response = await casino.client.post(f"{API}/auth/signup", json=bad)
        assert_error(response, 422, "validation_error")


async def test_a_taken_nickname_is_a_409_in_any_case(casino: CasinoWorld) -> None:
    member = await casino.member()
    before = await snapshot(casino.database, WRITTEN)
    for taken in (member.nickname, member.nickname.upper()):
        assert_error(await casino.sign_up(taken), 409, "nickname_taken")
    assert await snapshot(casino.database, WRITTEN) == before


async def test_two_sign_ups_racing_for_a_nickname_make_one_member(casino: CasinoWorld) -> None:
    nickname = f"race{uuid.uuid4().hex[:8]}"
    answers = await asyncio.gather(*(casino.sign_up(nickname) for _ in range(5)))
    assert sorted(answer.status_code for answer in answers) == [201, 409, 409, 409, 409]
    for answer in answers:
        if answer.status_code == 409:
            assert_error(answer, 409, "nickname_taken")
