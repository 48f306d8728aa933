"""Tickets and stays: exact points under concurrent purchases, one refund, capacity-safe
check-in under concurrent arrivals, idempotent arrival, the sweep, extend and check-out."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, text

from ensemble.apps.b0.auth import REALM
from ensemble.apps.b0.domain import EXTEND_COST, POINTS
from ensemble.apps.b0.models import Room, RoomStay, Ticket, TicketStatus
from ensemble.apps.b0.settings import B0Settings
from ensemble.apps.b0.travel import service as travel
from ensemble.kernel.db import Database
from ensemble.kernel.jobs.models import OutboxJob
from ensemble.kernel.ledger import service as ledger
from ensemble.settings import Settings
from tests.apps.b0.conftest import B0World, Traveller
from tests.conftest import in_process_client

API = "/api/v1"


async def _points(b0: B0World, traveller: Traveller) -> int:
    me = await b0.client.get(f"{API}/users/me", headers=traveller.headers)
    points: int = me.json()["current_points"]
    return points


async def _chain_problems(b0: B0World, traveller: Traveller) -> list[Any]:
    async with b0.database.unit_of_work() as session:
        account = await ledger.find_account(
            session, realm=REALM, owner_id=traveller.user_id, currency=POINTS
        )
        assert account is not None
        return list(await ledger.verify_chain(session, account.id))


async def _arrive(b0: B0World, ticket_id: uuid.UUID | str) -> travel.Arrival:
    async with b0.database.unit_of_work() as session:
        return await travel.arrive(session, uuid.UUID(str(ticket_id)))


async def test_concurrent_purchases_spend_exactly_what_is_affordable(
    b0: B0World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 purchases at once by a user who can afford 3 (no active-trip cap): exactly 3."""
    monkeypatch.setattr(b0.b0_settings, "max_active_trips", None)
    city, airship = await b0.city(cost=100), await b0.airship()
    rich = await b0.traveller(points=300)
    answers = await asyncio.gather(*(b0.buy(rich, city, airship) for _ in range(100)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 3 + [409] * 97
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {
        "insufficient_points"
    }
    assert await _points(b0, rich) == 0
    assert await _chain_problems(b0, rich) == []
    async with b0.database.unit_of_work() as session:
        tickets = (await session.execute(select(func.count()).select_from(Ticket))).scalar_one()
        jobs = (await session.execute(select(func.count()).select_from(OutboxJob))).scalar_one()
    assert (tickets, jobs) == (3, 3), "one ticket and one scheduled arrival per success"


async def test_one_active_trip_at_a_time(b0: B0World) -> None:
    city, airship = await b0.city(cost=100), await b0.airship()
    traveller = await b0.traveller(points=10_000)
    answers = await asyncio.gather(*(b0.buy(traveller, city, airship) for _ in range(20)))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 19
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {
        "active_trip_exists"
    }
    assert await _points(b0, traveller) == 10_000 - 100


async def test_a_ticket_number_already_taken_is_drawn_again(
    b0: B0World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ticket numbers are short and random: a purchase that draws a taken one still boards,
    under a fresh number, paying once."""
    city, airship = await b0.city(cost=100), await b0.airship()
    first = await b0.buy(await b0.traveller(points=1_000), city, airship)
    taken = first.json()["ticket_number"]
    draws = iter([taken, taken, "B0-000000-FRESH1"])
    monkeypatch.setattr(travel, "ticket_number", lambda _: next(draws))
    traveller = await b0.traveller(points=1_000)

    second = await b0.buy(traveller, city, airship)

    assert second.status_code == 201, second.text
    assert second.json()["ticket_number"] == "B0-000000-FRESH1"
    assert await _points(b0, traveller) == 1_000 - 100


async def test_purchase_refused_when_short_writes_nothing(b0: B0World) -> None:
    city, airship = await b0.city(cost=500), await b0.airship()
    poor = await b0.traveller(points=499)
    refused = await b0.buy(poor, city, airship)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "insufficient_points"
    assert await _points(b0, poor) == 499
    listed = await b0.client.get(f"{API}/tickets", headers=poor.headers)
    assert listed.json()["items"] == []


async def test_price_and_flight_time_follow_city_and_airship(b0: B0World) -> None:
    city = await b0.city(cost=333, hours=2.0)
    airship = await b0.airship(cost_factor="1.5", duration_factor="0.5")
    traveller = await b0.traveller(points=1000)
    ticket = (await b0.buy(traveller, city, airship)).json()
    assert ticket["cost_points"] == 500  # round(333 × 1.5) = round(499.5), halves up
    flight = _seconds_between(ticket["departure_datetime"], ticket["arrival_datetime"])
    assert flight == pytest.approx(3600, abs=1)


async def test_a_flight_time_scale_shortens_every_flight_and_its_arrival_job(
    b0: B0World, settings: Settings, database: Database
) -> None:
    """`B0_FLIGHT_TIME_SCALE=0.01`: a 1.5-hour flight lands (and is completed) in 54 s."""
    city, airship = await b0.city(hours=1.0), await b0.airship(duration_factor="1.5")
    traveller = await b0.traveller(points=1000)
    demo = B0Settings(flight_time_scale=0.01)
    async with in_process_client(settings, database, "b0", b0=demo) as client:
        bought = await client.post(
            f"{API}/tickets",
            json={"city_id": str(city), "airship_id": str(airship)},
            headers=traveller.headers,
        )
    assert bought.status_code == 201, bought.text
    ticket = bought.json()
    flight = _seconds_between(ticket["departure_datetime"], ticket["arrival_datetime"])
    assert flight == pytest.approx(54, abs=1)
    async with database.unit_of_work() as session:
        run_at = await session.scalar(
            select(OutboxJob.run_at).where(
                OutboxJob.kwargs["ticket_id"].astext == ticket["ticket_id"]
            )
        )
    assert run_at == datetime.fromisoformat(ticket["arrival_datetime"])


@pytest.mark.parametrize("scale", [0, -1, 1.5])
def test_a_flight_time_scale_is_a_share_of_the_time(scale: float) -> None:
    with pytest.raises(ValidationError, match="flight_time_scale"):
        B0Settings(flight_time_scale=scale)


def _seconds_between(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


async def test_cancel_refunds_exactly_once(b0: B0World) -> None:
    city, airship = await b0.city(cost=200), await b0.airship()
    traveller = await b0.traveller(points=500)
    ticket = (await b0.buy(traveller, city, airship)).json()
    path = f"{API}/tickets/{ticket['ticket_id']}/cancel"
    answers = await asyncio.gather(
        *(b0.client.post(path, headers=traveller.headers) for _ in range(5))
    )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 4
    assert await _points(b0, traveller) == 500
    assert await _chain_problems(b0, traveller) == []
    arrival = await _arrive(b0, ticket["ticket_id"])
    assert arrival.stay is None, "a cancelled ticket never arrives"


async def test_arrival_is_idempotent(b0: B0World) -> None:
    city, airship = await b0.city(), await b0.airship()
    traveller = await b0.traveller()
    ticket = (await b0.buy(traveller, city, airship)).json()
    await b0.land(ticket["ticket_id"])
    first, *again = await asyncio.gather(*(_arrive(b0, ticket["ticket_id"]) for _ in range(5)))
    assert first.stay is not None
    assert {a.stay.id for a in again if a.stay} == {first.stay.id}
    async with b0.database.unit_of_work() as session:
        assert (await session.execute(select(func.count()).select_from(RoomStay))).scalar_one() == 1
        room = await session.get(Room, first.stay.room_id)
        assert room is not None
        assert room.current_occupancy == 1
    current = await b0.client.get(f"{API}/tickets/current", headers=traveller.headers)
    assert current.status_code == 404


async def test_early_delivery_reschedules_instead_of_arriving(b0: B0World) -> None:
    city, airship = await b0.city(hours=5), await b0.airship()
    traveller = await b0.traveller()
    ticket = (await b0.buy(traveller, city, airship)).json()
    arrival = await _arrive(b0, ticket["ticket_id"])
    assert (arrival.rescheduled, arrival.stay) == (True, None)
    async with b0.database.unit_of_work() as session:
        status = await session.scalar(
            select(Ticket.status).where(Ticket.id == uuid.UUID(ticket["ticket_id"]))
        )
        requests = await session.scalar(select(func.count()).select_from(OutboxJob))
    assert (status, requests) == (TicketStatus.BOARDING, 2)


async def test_fifty_arrivals_at_once_fill_rooms_without_overflow(b0: B0World) -> None:
    city, airship = await b0.city(), await b0.airship()
    travellers = await asyncio.gather(*(b0.traveller() for _ in range(50)))
    tickets = [(await b0.buy(t, city, airship)).json()["ticket_id"] for t in travellers]
    for ticket in tickets:
        await b0.land(ticket)
    arrivals = await asyncio.gather(*(_arrive(b0, t) for t in tickets))
    assert all(a.stay is not None for a in arrivals)
    async with b0.database.unit_of_work() as session:
        rooms = (await session.execute(select(Room))).scalars().all()
        stays = (
            await session.execute(select(RoomStay.room_id, func.count()).group_by(RoomStay.room_id))
        ).all()
    assert len(rooms) == math.ceil(50 / 6)
    assert all(room.current_occupancy <= room.capacity for room in rooms)
    assert {room.id: room.current_occupancy for room in rooms} == dict(stays)
    assert sum(room.current_occupancy for room in rooms) == 50


async def test_sweep_completes_lost_arrivals_and_ends_expired_stays(b0: B0World) -> None:
    city, airship = await b0.city(), await b0.airship()
    lost, staying = await b0.traveller(), await b0.traveller()
    lost_ticket = (await b0.buy(lost, city, airship)).json()["ticket_id"]
    stay_ticket = (await b0.buy(staying, city, airship)).json()["ticket_id"]
    await b0.land(stay_ticket)
    stay = (await _arrive(b0, stay_ticket)).stay
    assert stay is not None
    await b0.land(lost_ticket)
    async with b0.database.unit_of_work() as session:
        await session.execute(
            text("UPDATE b0.room_stays SET scheduled_check_out_at = now() - interval '1 minute'")
        )
    async with b0.database.unit_of_work() as session:
        report = await travel.sweep(session)
    assert (report.arrived, report.checked_out) == (1, 1)
    lost_stay = await b0.client.get(f"{API}/room-stays/current", headers=lost.headers)
    assert lost_stay.json()["status"] == "CHECKED_IN"
    assert (
        await b0.client.get(f"{API}/room-stays/current", headers=staying.headers)
    ).status_code == 404
    async with b0.database.unit_of_work() as session:
        again = await travel.sweep(session)
    assert (again.arrived, again.checked_out) == (0, 0)


async def test_extend_spends_points_and_moves_check_out(b0: B0World) -> None:
    city, airship = await b0.city(cost=100), await b0.airship()
    traveller = await b0.traveller(points=100 + EXTEND_COST + 10)
    ticket = (await b0.buy(traveller, city, airship)).json()["ticket_id"]
    await b0.land(ticket)
    await _arrive(b0, ticket)
    before = (await b0.client.get(f"{API}/room-stays/current", headers=traveller.headers)).json()
    extended = await b0.client.post(f"{API}/room-stays/current/extend", headers=traveller.headers)
    assert extended.status_code == 200
    assert extended.json()["status"] == "EXTENDED"
    gained = _seconds_between(
        before["scheduled_check_out_at"], extended.json()["scheduled_check_out_at"]
    )
    assert gained == 24 * 3600
    assert await _points(b0, traveller) == 10
    short = await b0.client.post(f"{API}/room-stays/current/extend", headers=traveller.headers)
    assert short.status_code == 409
    assert short.json()["error"]["code"] == "insufficient_points"


async def test_checking_out_frees_the_bed_and_ends_membership(b0: B0World) -> None:
    city, airship = await b0.city(), await b0.airship()
    traveller = await b0.traveller()
    ticket = (await b0.buy(traveller, city, airship)).json()["ticket_id"]
    await b0.land(ticket)
    stay = (await _arrive(b0, ticket)).stay
    assert stay is not None
    left = await b0.client.post(f"{API}/room-stays/current/check-out", headers=traveller.headers)
    assert left.json()["room"]["current_occupancy"] == 0
    again = await b0.client.post(f"{API}/room-stays/current/check-out", headers=traveller.headers)
    assert again.status_code == 404
    members = await b0.client.get(f"{API}/rooms/{stay.room_id}/members", headers=traveller.headers)
    assert members.status_code == 403
    bought_again = await b0.buy(traveller, city, airship)
    assert bought_again.status_code == 201, "after leaving, the traveller may fly again"


async def test_one_failing_repair_does_not_stop_the_sweep(
    b0: B0World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two landed tickets of one traveller (no trip cap) and one of another: all arrive; the
    second arrival moves the first traveller on, and occupancy matches the stays."""
    monkeypatch.setattr(b0.b0_settings, "max_active_trips", None)
    city, airship = await b0.city(), await b0.airship()
    busy, other = await b0.traveller(), await b0.traveller()
    tickets = [(await b0.buy(busy, city, airship)).json()["ticket_id"] for _ in range(2)]
    tickets.append((await b0.buy(other, city, airship)).json()["ticket_id"])
    for ticket in tickets:
        await b0.land(ticket)
    async with b0.database.unit_of_work() as session:
        report = await travel.sweep(session)
    assert report.arrived == 3
    async with b0.database.unit_of_work() as session:
        active = (
            await session.execute(
                select(RoomStay.user_id, func.count())
                .where(RoomStay.status != "CHECKED_OUT")
                .group_by(RoomStay.user_id)
            )
        ).all()
        occupancy = await session.scalar(select(func.sum(Room.current_occupancy)))
    assert dict(active) == {busy.user_id: 1, other.user_id: 1}
    assert occupancy == 2


async def test_occupancy_survives_check_outs_racing_check_ins(b0: B0World) -> None:
    city, airship = await b0.city(), await b0.airship()
    leavers = [await b0.traveller() for _ in range(5)]
    for traveller in leavers:
        ticket = (await b0.buy(traveller, city, airship)).json()["ticket_id"]
        await b0.land(ticket)
        await _arrive(b0, ticket)
    arrivers = [await b0.traveller() for _ in range(5)]
    landing = []
    for traveller in arrivers:
        ticket = (await b0.buy(traveller, city, airship)).json()["ticket_id"]
        await b0.land(ticket)
        landing.append(ticket)
    await asyncio.gather(
        *(
            b0.client.post(f"{API}/room-stays/current/check-out", headers=t.headers)
            for t in leavers
        ),
        *(_arrive(b0, ticket) for ticket in landing),
    )
    async with b0.database.unit_of_work() as session:
        rooms = (await session.execute(select(Room))).scalars().all()
        staying = await session.scalar(
            select(func.count()).select_from(RoomStay).where(RoomStay.status != "CHECKED_OUT")
        )
    assert sum(r.current_occupancy for r in rooms) == staying == 5


async def test_a_purchase_failing_after_the_spend_leaves_nothing(
    b0: B0World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spend, the ticket and the scheduled arrival are one transaction: a failure after
    the ledger write (here: scheduling the arrival) undoes all of it."""
    city, airship = await b0.city(cost=100), await b0.airship()
    traveller = await b0.traveller(points=500)

    class Unavailable:
        async def enqueue_at(self, *_: object, **__: object) -> None:
            raise RuntimeError("the outbox is unavailable")

    monkeypatch.setattr(travel, "complete_ticket", Unavailable())
    failed = await b0.buy(traveller, city, airship)
    assert failed.status_code == 500
    assert failed.json()["error"]["code"] == "internal_error"
    assert await _points(b0, traveller) == 500
    assert await _chain_problems(b0, traveller) == []
    async with b0.database.unit_of_work() as session:
        tickets = await session.scalar(select(func.count()).select_from(Ticket))
        spends = await session.scalar(
            text("SELECT count(*) FROM ledger.entries WHERE reference_type = 'TICKET'")
        )
    assert (tickets, spends) == (0, 0)
