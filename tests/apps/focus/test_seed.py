"""`ensemble focus seed`: demo users who can log in, rooms whose member counts are right,
and past sessions for stats."""

from __future__ import annotations

from sqlalchemy import func, select

from ensemble.apps.focus.cli import SeedPlan, seed
from ensemble.apps.focus.models import FocusSession, Member, Room, Timer, User
from ensemble.kernel.db.raw import own_connection
from tests.apps.focus.conftest import API, FocusWorld


async def test_seeded_users_log_in_and_rooms_hold_their_members(focus: FocusWorld) -> None:
    plan = SeedPlan(users=12, rooms=3, history_days=3, password="seeded-password")
    advanced: list[int] = []
    async with own_connection(focus.database.engine) as connection:
        result = await seed(connection, plan, advanced.append)

    assert (result.users, result.rooms) == (12, 3)
    assert sum(advanced) >= 12 + 3
    async with focus.database.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 12
        rooms = (await session.scalars(select(Room))).all()
        assert len(rooms) == 3
        for room in rooms:
            members = await session.scalar(
                select(func.count()).select_from(Member).where(Member.room_id == room.id)
            )
            assert members is not None
            assert room.member_count == members >= 2
            owner_is_member = await session.get(Member, (room.id, room.owner_id))
            assert owner_is_member is not None
            assert await session.get(Timer, room.id) is not None
        stored = await session.scalar(select(func.count()).select_from(FocusSession))
        assert stored == result.sessions

    login = await focus.client.post(
        f"{API}/auth/login", json={"email": result.first_email, "password": "seeded-password"}
    )
    assert login.status_code == 200, login.text
    me = await focus.client.get(
        f"{API}/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.json()["email"] == result.first_email


async def test_seeding_twice_adds_users_without_collisions(focus: FocusWorld) -> None:
    plan = SeedPlan(users=3, rooms=1, history_days=0)
    async with own_connection(focus.database.engine) as connection:
        first = await seed(connection, plan, lambda _: None)
        second = await seed(connection, plan, lambda _: None)
    assert first.first_email != second.first_email
    async with focus.database.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 6
