"""Age-gated unlock (B5): off by default; only for members verified adult through the port;
stage by stage, paid in coins from the ledger, each unlock in the append-only log; nothing
of a locked stage in any answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from ensemble.apps.casino.models import User
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.apps.casino.unlock.models import Unlock, UnlockStage
from ensemble.kernel.db import Database
from ensemble.settings import Settings
from tests.apicheck import assert_error, snapshot, tables_of
from tests.apps.casino.conftest import API, CasinoWorld, Member
from tests.conftest import in_process_client

CONTENT = "after-dark"
ADULT = {"jurisdiction": "KR", "birth_date": "1990-05-01"}


@pytest.fixture
async def world(settings: Settings, database: Database) -> AsyncIterator[CasinoWorld]:
    """Casino-Club with the unlock switched on."""
    enabled = CasinoSettings(unlock_enabled=True)
    async with in_process_client(settings, database, "casino", casino=enabled) as client:
        yield CasinoWorld(settings, database, client)


async def bodies(database: Database) -> dict[str, str]:
    async with database.unit_of_work() as session:
        rows = await session.scalars(select(UnlockStage).where(UnlockStage.content_id == CONTENT))
        return {row.stage: row.body for row in rows}


class Calls:
    """A member's calls, every answer's text kept (to look for locked bodies in them)."""

    def __init__(self, world: CasinoWorld, member: Member) -> None:
        self.world, self.member, self.texts = world, member, list[str]()

    async def __call__(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.world.client.request(
            method, f"{API}{path}", json=body, headers=self.member.headers
        )
        self.texts.append(response.text)
        return response

    async def unlock(self, stage: str) -> Any:
        return await self("POST", "/unlock", {"content_id": CONTENT, "stage": stage})

    async def contents(self) -> list[dict[str, Any]]:
        response = await self("GET", "/unlock/contents")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


async def everything(database: Database) -> dict[str, list[str]]:
    return await snapshot(database, await tables_of(database, "casino", "ledger"))


async def test_the_feature_is_off_by_default(casino: CasinoWorld) -> None:
    member = await casino.member()
    before = await everything(casino.database)
    for method, path, body in [
        ("POST", "/unlock/verify", ADULT),
        ("POST", "/unlock", {"content_id": CONTENT, "stage": "teaser"}),
        ("GET", "/unlock/contents", None),
    ]:
        response = await casino.client.request(
            method, f"{API}{path}", json=body, headers=member.headers
        )
        assert_error(response, 404, "unlock_disabled")
    assert await everything(casino.database) == before


async def test_no_unlock_without_age_verification(world: CasinoWorld) -> None:
    member = await world.member()
    calls = Calls(world, member)
    before = await everything(world.database)
    assert_error(await calls.unlock("teaser"), 403, "age_not_verified")
    minor = await calls(
        "POST", "/unlock/verify", {"jurisdiction": "KR", "birth_date": "2008-01-01"}
    )
    assert_error(minor, 403, "not_adult")
    assert_error(await calls.unlock("teaser"), 403, "age_not_verified")
    assert await everything(world.database) == before
    verified = await calls("POST", "/unlock/verify", ADULT)
    assert verified.status_code == 201, verified.text
    assert verified.json()["jurisdiction"] == "KR"
    again = await calls(
        "POST", "/unlock/verify", {"jurisdiction": "KR", "birth_date": "2009-01-01"}
    )
    assert again.status_code == 200  # verified once, for good
    assert (await calls.unlock("teaser")).status_code == 201


async def test_stage_by_stage_paid_logged_and_never_shown_locked(world: CasinoWorld) -> None:
    member = await world.member()
    calls = Calls(world, member)
    secret = await bodies(world.database)
    assert (await calls("POST", "/unlock/verify", ADULT)).status_code == 201
    (listed,) = await calls.contents()
    assert [s["body"] for s in listed["stages"]] == [None, None, None]
    assert [s["price_coins"] for s in listed["stages"]] == [0, 200, 500]
    assert_error(await calls.unlock("partial"), 409, "previous_stage_locked")
    teaser = await calls.unlock("teaser")
    assert teaser.status_code == 201
    assert teaser.json()["body"] == secret["teaser"]
    partial = await calls.unlock("partial")
    assert partial.status_code == 201
    assert (await calls.unlock("partial")).status_code == 200  # again: at no cost
    assert_error(await calls.unlock("full"), 403, "tier_too_low")
    assert_error(
        await calls("POST", "/unlock", {"content_id": "nothing", "stage": "teaser"}),
        404,
        "content_not_found",
    )
    (listed,) = await calls.contents()
    shown = {s["stage"]: s["body"] for s in listed["stages"]}
    assert shown == {"teaser": secret["teaser"], "partial": secret["partial"], "full": None}
    assert not any(secret["full"] in answer for answer in calls.texts)
    me = await calls("GET", "/auth/me")
    assert me.json()["coins"] == 1000 - 200

    async with world.database.unit_of_work() as session:
        await session.execute(
            update(User).where(User.account_id == member.user_id).values(vip_tier=1)
        )
    assert (await calls.unlock("full")).status_code == 201
    async with world.database.unit_of_work() as session:
        logged = (await session.scalars(select(Unlock).order_by(Unlock.unlocked_at))).all()
    assert [(u.stage, u.price_coins) for u in logged] == [
        ("teaser", 0),
        ("partial", 200),
        ("full", 500),
    ]
    assert {u.verification for u in logged} != {""}


async def test_the_unlock_log_is_append_only(world: CasinoWorld) -> None:
    member = await world.member()
    calls = Calls(world, member)
    await calls("POST", "/unlock/verify", ADULT)
    assert (await calls.unlock("teaser")).status_code == 201
    for statement in ("UPDATE casino.unlocks SET price_coins = 1", "DELETE FROM casino.unlocks"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with world.database.unit_of_work() as session:
                await session.execute(text(statement))


async def test_concurrent_unlocks_of_a_stage_pay_once(world: CasinoWorld) -> None:
    member = await world.member()
    calls = Calls(world, member)
    await calls("POST", "/unlock/verify", ADULT)
    await calls.unlock("teaser")
    answers = await asyncio.gather(*(calls.unlock("partial") for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    async with world.database.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Unlock)) == 2
    assert (await calls("GET", "/auth/me")).json()["coins"] == 800


async def test_a_cooling_off_member_cannot_unlock(world: CasinoWorld) -> None:
    member = await world.member()
    calls = Calls(world, member)
    await calls("POST", "/unlock/verify", ADULT)
    await calls.unlock("teaser")
    assert (
        await calls("POST", "/responsible-play/cool-off", {"duration": "24h"})
    ).status_code == 200
    assert_error(await calls.unlock("partial"), 403, "cooling_off")
