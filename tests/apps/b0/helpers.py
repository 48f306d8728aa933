"""B0 scenes shared by several test files: a traveller checked into a room, a question,
a forged token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from ensemble.apps.b0.models import Question
from ensemble.apps.b0.travel import service as travel
from ensemble.kernel.db import new_id
from ensemble.kernel.identity.external import sign_dev_token
from tests.apps.b0.conftest import B0World, Traveller


def forged_token(sub: str | None = None) -> str:
    """A well-formed token signed with a secret other than the provider's."""
    secret = "a-secret-that-is-not-the-providers-0123456789"
    return sign_dev_token(secret, sub or uuid.uuid4().hex, None, timedelta(hours=1))


@dataclass(frozen=True)
class Stay:
    ticket_id: uuid.UUID
    room_id: uuid.UUID


async def arrive(world: B0World, ticket_id: uuid.UUID) -> None:
    """Land a boarding ticket and run its arrival (completion and check-in) right now."""
    await world.land(ticket_id)
    async with world.database.unit_of_work() as session:
        arrival = await travel.arrive(session, ticket_id)
        assert arrival.stay is not None


async def check_in(
    world: B0World, traveller: Traveller, city: uuid.UUID, airship: uuid.UUID
) -> Stay:
    """Fly `traveller` to `city` and check them into a room of its guesthouse."""
    bought = await world.buy(traveller, city, airship)
    assert bought.status_code == 201, bought.text
    ticket_id = uuid.UUID(bought.json()["ticket_id"])
    await arrive(world, ticket_id)
    stay = await world.client.get("/api/v1/room-stays/current", headers=traveller.headers)
    assert stay.status_code == 200, stay.text
    return Stay(ticket_id, uuid.UUID(stay.json()["room"]["room_id"]))


async def question(
    world: B0World, content: str = "Where next?", *, order: int = 0, active: bool = True
) -> uuid.UUID:
    async with world.database.unit_of_work() as session:
        row = Question(id=new_id(), content=content, display_order=order, is_active=active)
        session.add(row)
        return row.id
