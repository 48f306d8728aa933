"""Focus Mate fixtures: the app served alone (the spec's exact paths) and its users."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from httpx import AsyncClient

from ensemble.apps.focus import app as focus_app
from ensemble.apps.focus import service
from ensemble.apps.focus.models import Role
from ensemble.kernel.db import Database
from ensemble.kernel.modules import AppModule
from ensemble.settings import Settings
from tests.apicheck import SignedIn, bearer, log_in
from tests.conftest import in_process_client

API = "/api/v1"
PASSWORD = "correct horse battery"


@pytest.fixture
def apps_written() -> list[AppModule]:
    """Focus Mate's tests write Focus Mate's tables (and the kernel's) alone."""
    return [focus_app]


@pytest.fixture
async def focus_client(settings: Settings, database: Database) -> AsyncIterator[AsyncClient]:
    """Focus Mate served alone, with its hub and Redis client."""
    async with in_process_client(settings, database, "focus") as client:
        yield client


FocusUser = SignedIn


@dataclass
class FocusWorld:
    settings: Settings
    database: Database
    client: AsyncClient
    users: list[FocusUser] = field(default_factory=list)

    async def user(self, role: Role = Role.USER) -> FocusUser:
        """A registered, logged-in user (moderators and admins are created as the CLI does)."""
        email = f"{uuid.uuid4().hex[:12]}@example.com"
        if role is Role.USER:
            registered = await self.client.post(
                f"{API}/auth/register", json={"email": email, "password": PASSWORD}
            )
            assert registered.status_code == 201, registered.text
        else:
            async with self.database.unit_of_work() as session:
                await service.sign_up(session, email=email, password=PASSWORD, role=role)
        tokens = await self.login(email)
        me = await self.client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200, me.text
        user = FocusUser(
            uuid.UUID(me.json()["user_id"]), email, tokens["access_token"], tokens["refresh_token"]
        )
        self.users.append(user)
        return user

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        return await log_in(self.client, API, email, password)


@pytest.fixture
async def focus(settings: Settings, database: Database, focus_client: AsyncClient) -> FocusWorld:
    return FocusWorld(settings, database, focus_client)
