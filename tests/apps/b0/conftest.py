"""B0 fixtures: the app served alone, provider-style tokens, and a small catalogue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from ensemble.apps.b0 import app as b0_app
from ensemble.apps.b0 import service
from ensemble.apps.b0.domain import Reason
from ensemble.apps.b0.models import Airship, City, GuestHouse
from ensemble.apps.b0.settings import B0Settings
from ensemble.kernel.db import Database, new_id
from ensemble.kernel.identity.external import external_secret, sign_dev_token
from ensemble.kernel.modules import AppModule
from ensemble.settings import Settings
from tests.apicheck import bearer
from tests.conftest import in_process_client


@pytest.fixture
def apps_written() -> list[AppModule]:
    """B0's tests write B0's tables (and the kernel's) alone."""
    return [b0_app]


@pytest.fixture
def b0_settings() -> B0Settings:
    """B0's settings in the app the tests serve (a test may change them)."""
    return B0Settings()


@pytest.fixture
async def b0_client(
    settings: Settings, database: Database, b0_settings: B0Settings
) -> AsyncIterator[AsyncClient]:
    """The B0 app served alone (the spec's exact paths), with its realtime hub running."""
    async with in_process_client(settings, database, "b0", b0=b0_settings) as client:
        yield client


@dataclass
class Traveller:
    sub: str
    token: str
    user_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


@dataclass
class B0World:
    settings: Settings
    database: Database
    client: AsyncClient
    b0_settings: B0Settings = field(default_factory=B0Settings)

    def token(
        self, sub: str | None = None, *, ttl: timedelta = timedelta(hours=1), **kw: Any
    ) -> str:
        secret = external_secret(self.settings)
        assert secret is not None
        return sign_dev_token(secret, sub or uuid.uuid4().hex, kw.pop("email", None), ttl, **kw)

    async def traveller(self, points: int | None = None) -> Traveller:
        """A registered user (with the sign-up bonus), topped up or down to `points`."""
        sub = uuid.uuid4().hex
        token = self.token(sub, email=f"{sub[:8]}@example.com")
        response = await self.client.post("/api/v1/users", headers=bearer(token))
        assert response.status_code == 201, response.text
        user_id = uuid.UUID(response.json()["user_id"])
        if points is not None:
            await self.set_points(user_id, points)
        return Traveller(sub, token, user_id)

    async def set_points(self, user_id: uuid.UUID, points: int) -> None:
        async with self.database.unit_of_work() as session:
            current = await service.balance(session, user_id)
            if points > current:
                await service.earn(
                    session, user_id, points - current, Reason.SIGN_UP, key=f"top-up:{new_id()}"
                )
            elif points < current:
                await service.spend(
                    session, user_id, current - points, Reason.TICKET,
                    key=f"drain:{new_id()}", reference=("TEST", new_id()),
                )  # fmt: skip

    async def city(
        self, *, cost: int = 100, hours: float = 1.0, name: str = "Testville"
    ) -> uuid.UUID:
        async with self.database.unit_of_work() as session:
            city = City(
                id=new_id(), name=name, base_cost_points=cost,
                base_duration_hours=Decimal(str(hours)), display_order=0,
            )  # fmt: skip
            session.add(city)
            await session.flush()
            session.add(GuestHouse(id=new_id(), city_id=city.id, name=f"{name} House"))
            return city.id

    async def airship(self, *, cost_factor: str = "1.0", duration_factor: str = "1.0") -> uuid.UUID:
        async with self.database.unit_of_work() as session:
            airship = Airship(
                id=new_id(), name="Test Airship",
                cost_factor=Decimal(cost_factor), duration_factor=Decimal(duration_factor),
            )  # fmt: skip
            session.add(airship)
            return airship.id

    async def land(self, ticket_id: uuid.UUID | str) -> None:
        """Move a boarding ticket's arrival into the past (time passes in tests by decree)."""
        async with self.database.unit_of_work() as session:
            await session.execute(
                text(
                    "UPDATE b0.tickets SET arrival_datetime = now() - interval '1 second'"
                    " WHERE id = :t"
                ),
                {"t": uuid.UUID(str(ticket_id))},
            )

    async def buy(self, traveller: Traveller, city: uuid.UUID, airship: uuid.UUID) -> Any:
        return await self.client.post(
            "/api/v1/tickets",
            json={"city_id": str(city), "airship_id": str(airship)},
            headers=traveller.headers,
        )


@pytest.fixture
def b0(
    settings: Settings, database: Database, b0_client: AsyncClient, b0_settings: B0Settings
) -> B0World:
    return B0World(settings, database, b0_client, b0_settings)


def expired_token(world: B0World) -> str:
    return world.token(ttl=timedelta(seconds=1), now=datetime.now(UTC) - timedelta(hours=1))
