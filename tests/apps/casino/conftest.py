"""Casino-Club fixtures: the app served alone (the spec's exact paths), its members and
invite codes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ensemble.apps.casino import app as casino_app
from ensemble.apps.casino.domain import Rank
from ensemble.apps.casino.models import InviteCode, User
from ensemble.apps.casino.settings import CasinoSettings
from ensemble.kernel.db import Database
from ensemble.kernel.modules import AppModule
from ensemble.settings import Settings
from tests.apicheck import bearer
from tests.conftest import empty_apps, in_process_client

API = "/api"
PASSWORD = "correct horse battery"
FOREVER = CasinoSettings().invite_forever_code
WRITTEN = (
    "casino.users",
    "casino.invite_codes",
    "identity.accounts",
    "identity.refresh_tokens",
    "ledger.accounts",
    "ledger.entries",
)
"""Every table a sign-up writes: equal snapshots of them mean a refusal wrote nothing."""
STREAM_SECONDS = 0.2
"""How long a notification stream lasts in tests that read whole responses."""


@pytest.fixture
def apps_written() -> list[AppModule]:
    """Casino-Club's tests write Casino-Club's tables (and the kernel's) alone."""
    return [casino_app]


SHIPPED = "test_shipped"
"""Where the rows Casino-Club's migrations ship are kept, a copy per reference table."""


def _copy_of(table: str) -> str:
    return f"{SHIPPED}.{table.replace('.', '__')}"


@pytest.fixture(scope="session")
async def shipped_rows(database: Database) -> tuple[str, ...]:
    """Copies of the reference tables as the migrations filled them (taken once), in the
    order they can be refilled (a table after those its rows point at)."""
    tables = tuple(casino_app.reference_tables)
    async with database.engine.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SHIPPED}"))
        for table in tables:
            await conn.execute(
                text(f"CREATE TABLE IF NOT EXISTS {_copy_of(table)} AS TABLE {table}")
            )
    return tables


async def _fingerprint(conn: AsyncConnection, table: str) -> str:
    found = await conn.scalar(
        text(f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {table} t")
    )
    return str(found)


@pytest.fixture(autouse=True)
async def _clean_tables(database: Database, shipped_rows: tuple[str, ...]) -> AsyncIterator[None]:
    """Replaces the root one: empty Casino-Club's tables and the kernel's, and put back the
    shipped rows of any reference table a test changed (admins add products, banners, rate
    tables; the fuzzing does too)."""
    yield
    await empty_apps(database, [casino_app])
    async with database.engine.begin() as conn:
        changed = [
            table
            for table in shipped_rows
            if await _fingerprint(conn, table) != await _fingerprint(conn, _copy_of(table))
        ]
        for table in reversed(changed):
            await conn.execute(text(f"DELETE FROM {table}"))
        for table in changed:
            await conn.execute(text(f"INSERT INTO {table} SELECT * FROM {_copy_of(table)}"))


@pytest.fixture
async def casino_client(settings: Settings, database: Database) -> AsyncIterator[AsyncClient]:
    """Casino-Club served alone, with its Redis client (an SSE stream lasts `STREAM_SECONDS`:
    the in-process transport answers once the body is complete)."""
    casino = CasinoSettings(notification_stream_seconds=STREAM_SECONDS)
    async with in_process_client(settings, database, "casino", casino=casino) as client:
        yield client


@dataclass
class Member:
    """A signed-up, logged-in member: its id, nickname and tokens."""

    user_id: uuid.UUID
    nickname: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def new_nickname() -> str:
    return f"m{uuid.uuid4().hex[:12]}"


@dataclass
class CasinoWorld:
    settings: Settings
    database: Database
    client: AsyncClient
    members: list[Member] = field(default_factory=list)

    async def sign_up(
        self, nickname: str, code: str = FOREVER, password: str = PASSWORD
    ) -> httpx.Response:
        body = {"invite_code": code, "nickname": nickname, "password": password}
        return await self.client.post(f"{API}/auth/signup", json=body)

    async def member(self, rank: Rank = Rank.STANDARD) -> Member:
        """A member signed up with the forever code (then given `rank`, as an admin would),
        logged in afresh."""
        nickname = new_nickname()
        signed_up = await self.sign_up(nickname)
        assert signed_up.status_code == 201, signed_up.text
        user_id = uuid.UUID(signed_up.json()["user"]["user_id"])
        if rank is not Rank.STANDARD:
            await self.set_rank(user_id, rank)
        tokens = await self.login(nickname)
        member = Member(user_id, nickname, tokens["access_token"], tokens["refresh_token"])
        self.members.append(member)
        return member

    async def set_rank(self, user_id: uuid.UUID, rank: Rank) -> None:
        async with self.database.unit_of_work() as session:
            await session.execute(update(User).where(User.account_id == user_id).values(rank=rank))

    async def login(self, nickname: str, password: str = PASSWORD) -> dict[str, Any]:
        """`POST /api/auth/login`'s tokens (asserting the 200)."""
        body = {"nickname": nickname, "password": password}
        response = await self.client.post(f"{API}/auth/login", json=body)
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def invite(
        self,
        *,
        max_uses: int = 1,
        uses: int = 0,
        is_active: bool = True,
        expires_at: datetime | None = None,
    ) -> str:
        """A stored invite code, as an admin would create it."""
        code = uuid.uuid4().hex[:10].upper()
        async with self.database.unit_of_work() as session:
            session.add(
                InviteCode(
                    code=code,
                    max_uses=max_uses,
                    uses=uses,
                    is_active=is_active,
                    expires_at=expires_at,
                )
            )
        return code


@pytest.fixture
async def casino(settings: Settings, database: Database, casino_client: AsyncClient) -> CasinoWorld:
    return CasinoWorld(settings, database, casino_client)
