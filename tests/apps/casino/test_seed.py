"""`ensemble casino seed`: demo members who log in by nickname, each with the sign-up coins
as a sound ledger chain, and past actions spread over the days asked for."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from ensemble.apps.casino.actions.models import Action
from ensemble.apps.casino.cli import SeedPlan, seed
from ensemble.apps.casino.models import User
from ensemble.kernel.db import utcnow
from ensemble.kernel.db.raw import own_connection
from ensemble.kernel.ledger import Account, verify_chain
from tests.apicheck import bearer
from tests.apps.casino.conftest import API, CasinoWorld


async def test_seeded_members_log_in_with_their_coins_and_past_actions(casino: CasinoWorld) -> None:
    plan = SeedPlan(
        members=25, actions=2_500, days=10, password="seeded-password", signup_coins=700
    )
    advanced: list[int] = []
    async with own_connection(casino.database.engine) as connection:
        result = await seed(connection, plan, advanced.append)

    assert (result.members, result.actions) == (25, 2_500)
    assert sum(advanced) == plan.rows_expected
    async with casino.database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 25
        accounts = (await session.scalars(select(Account))).all()
        assert [account.balance for account in accounts] == [700] * 25
        for account in accounts:
            assert await verify_chain(session, account.id) == []
        actions = (await session.scalars(select(Action))).all()
    assert len(actions) == 2_500
    assert {action.user_id for action in actions} <= {account.owner_id for account in accounts}
    oldest = utcnow() - timedelta(days=10, minutes=1)
    assert all(oldest <= action.created_at <= utcnow() for action in actions)
    by_id = sorted(actions, key=lambda action: action.id)
    assert by_id == sorted(actions, key=lambda action: action.created_at)  # ids of their instants

    tokens = await casino.login(result.first_nickname.upper(), "seeded-password")
    me = await casino.client.get(f"{API}/auth/me", headers=bearer(tokens["access_token"]))
    assert (me.json()["nickname"], me.json()["coins"]) == (result.first_nickname, 700)
    streak = await casino.client.get(
        f"{API}/rewards/streak", headers=bearer(tokens["access_token"])
    )
    assert streak.json()["current"] == 1


async def test_seeding_twice_adds_members_without_collisions(casino: CasinoWorld) -> None:
    for _ in range(2):
        async with own_connection(casino.database.engine) as connection:
            await seed(connection, SeedPlan(members=3), lambda _: None)
    async with casino.database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 6
