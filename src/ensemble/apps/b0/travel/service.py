"""The catalogue, tickets and room stays: purchase, cancel, arrival with check-in, extend,
check-out, sweep.

A purchase spends points and asks for `complete_ticket` at arrival through the job outbox,
in one transaction. Arrival completes the ticket and checks the traveller into a room of
the city's guesthouse in one transaction, idempotently: however often it runs (redelivery,
the sweep), there is one completion and one stay.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from ensemble.apps.b0 import events, repository, service
from ensemble.apps.b0.auth import NOT_REGISTERED
from ensemble.apps.b0.domain import (
    EXTEND_COST,
    ROOM_CAPACITY,
    STAY_LENGTH,
    Reason,
    flight_time,
    ticket_number,
    ticket_price,
)
from ensemble.apps.b0.models import (
    Airship,
    ChatMessage,
    City,
    GuestHouse,
    Room,
    RoomStay,
    StayStatus,
    Ticket,
    TicketStatus,
    User,
)
from ensemble.apps.b0.repository import Destination
from ensemble.apps.b0.tasks import complete_ticket
from ensemble.kernel.db import new_id, utcnow
from ensemble.kernel.errors import Conflict, Forbidden, NotFound
from ensemble.kernel.pagination import Page, PageRequest

logger = logging.getLogger(__name__)


class ActiveTrip(Conflict):
    code = "active_trip_exists"
    message = "You are already travelling or staying somewhere."


async def cities(session: AsyncSession, page: PageRequest) -> Page[City]:
    return await repository.cities.active_page(session, page)


async def city(session: AsyncSession, city_id: uuid.UUID) -> City:
    missing = NotFound("The city does not exist.", code="city_not_found")
    return await repository.cities.active(session, city_id, missing)


async def airships(session: AsyncSession, page: PageRequest) -> Page[Airship]:
    return await repository.airships.active_page(session, page)


async def airship(session: AsyncSession, airship_id: uuid.UUID) -> Airship:
    missing = NotFound("The airship does not exist.", code="airship_not_found")
    return await repository.airships.active(session, airship_id, missing)


def _snapshot_city(to: Destination) -> dict[str, object]:
    return {
        "city_id": str(to.city_id),
        "name": to.city_name,
        "description": to.city_description,
        "image_url": to.city_image_url,
        "base_cost_points": to.base_cost_points,
        "base_duration_hours": float(to.base_duration_hours),
    }


def _snapshot_airship(to: Destination) -> dict[str, object]:
    return {
        "airship_id": str(to.airship_id),
        "name": to.airship_name,
        "description": to.airship_description,
        "cost_factor": float(to.cost_factor),
        "duration_factor": float(to.duration_factor),
    }


async def _lock_user(
    session: AsyncSession, user_id: uuid.UUID, city_id: uuid.UUID, airship_id: uuid.UUID
) -> Destination | None:
    """Lock the user — one user's purchases run one at a time, so the active-trip rule holds
    under concurrency — reading the destination in the same trip. The trips are counted by a
    later statement: a statement's snapshot is taken before it waits for the lock. A user
    removed since their token was cached is not registered (`404`), as on every route."""
    locked = await repository.lock_user(session, user_id, city_id, airship_id)
    if locked is None:
        raise NotFound(NOT_REGISTERED, code="user_not_registered")
    return locked.destination


async def _missing_destination(
    session: AsyncSession,
    user_id: uuid.UUID,
    city_id: uuid.UUID,
    airship_id: uuid.UUID,
    max_active_trips: int | None,
) -> NoReturn:
    """Why there is no destination: `409` if the user is travelling anyway (that rule comes
    first), else which of the city and the airship is missing."""
    trips = await repository.active_trips(session, user_id)
    if max_active_trips is not None and trips >= max_active_trips:
        raise ActiveTrip()
    await city(session, city_id)
    await airship(session, airship_id)
    raise AssertionError("unreachable: one of them is missing")


def _ticket(user_id: uuid.UUID, to: Destination, flight_time_scale: float) -> Ticket:
    """A new boarding ticket, departing now, priced and timed from the destination."""
    now = utcnow()
    return Ticket(
        id=new_id(),
        ticket_number=ticket_number(now),
        user_id=user_id,
        city_id=to.city_id,
        airship_id=to.airship_id,
        city_snapshot=_snapshot_city(to),
        airship_snapshot=_snapshot_airship(to),
        cost_points=ticket_price(to.base_cost_points, to.cost_factor),
        status=TicketStatus.BOARDING,
        departure_datetime=now,
        arrival_datetime=now
        + flight_time(to.base_duration_hours, to.duration_factor, flight_time_scale),
        created_at=now,
        updated_at=now,
    )


NUMBER_ATTEMPTS = 8
"""Ticket numbers are short and random (`ticket_number`): one taken is drawn again."""


async def _boarded(
    session: AsyncSession,
    user_id: uuid.UUID,
    destination: Destination,
    flight_time_scale: float,
    max_active_trips: int | None,
) -> Ticket:
    """The new ticket, written under a ticket number no other ticket holds."""
    for _ in range(NUMBER_ATTEMPTS):
        ticket = _ticket(user_id, destination, flight_time_scale)
        boarding = await repository.board(session, ticket, max_active_trips)
        if boarding is repository.Boarding.FULL:
            raise ActiveTrip()
        if boarding is repository.Boarding.BOARDED:
            return ticket
    raise RuntimeError(f"no free ticket number in {NUMBER_ATTEMPTS} draws")


async def purchase(
    session: AsyncSession,
    user_id: uuid.UUID,
    city_id: uuid.UUID,
    airship_id: uuid.UUID,
    *,
    max_active_trips: int | None,
    flight_time_scale: float,
) -> Ticket:
    """Spend the fare and board; `complete_ticket` is asked for at arrival via the outbox. The
    flight takes `flight_time_scale` of its time (`B0_FLIGHT_TIME_SCALE`).

    The request's hot path, in plain SQL: lock the user (reading the destination), write the
    ticket unless the user is already travelling (counted in the same statement), spend the
    fare with its entry, request the arrival job. The ticket is not held by the session."""
    destination = await _lock_user(session, user_id, city_id, airship_id)
    if destination is None:
        await _missing_destination(session, user_id, city_id, airship_id, max_active_trips)
    ticket = await _boarded(session, user_id, destination, flight_time_scale, max_active_trips)
    await service.spend(
        session, user_id, ticket.cost_points, Reason.TICKET,
        key=f"ticket:{ticket.id}", reference=("TICKET", ticket.id),
        description=f"{destination.city_name} by {destination.airship_name}",
    )  # fmt: skip
    await complete_ticket.enqueue_at(session, ticket.arrival_datetime, ticket_id=str(ticket.id))
    return ticket


async def own_ticket(
    session: AsyncSession, user: User, ticket_id: uuid.UUID, *, lock: bool = False
) -> Ticket:
    ticket = await repository.tickets.own(session, user.id, ticket_id, lock=lock)
    if ticket is None:
        raise NotFound("The ticket does not exist.", code="ticket_not_found")
    return ticket


async def cancel(session: AsyncSession, user: User, ticket_id: uuid.UUID) -> Ticket:
    """Cancel while boarding; the fare is refunded once (the refund's key is the ticket)."""
    ticket = await own_ticket(session, user, ticket_id, lock=True)
    if ticket.status is not TicketStatus.BOARDING:
        raise Conflict("Only a boarding ticket can be cancelled.", code="ticket_not_cancellable")
    ticket.status, ticket.cancelled_at = TicketStatus.CANCELLED, utcnow()
    await service.earn(
        session, user.id, ticket.cost_points, Reason.REFUND,
        key=f"refund:{ticket.id}", reference=("TICKET", ticket.id),
    )  # fmt: skip
    await session.flush()
    return ticket


async def tickets(
    session: AsyncSession, user: User, status: TicketStatus | None, page: PageRequest
) -> Page[Ticket]:
    return await repository.tickets.page_of(session, user.id, status, page)


async def current_ticket(session: AsyncSession, user: User) -> Ticket:
    ticket = await repository.tickets.newest_boarding(session, user.id)
    if ticket is None:
        raise NotFound("You have no boarding ticket.", code="no_current_ticket")
    return ticket


# Arrival


@dataclass(frozen=True)
class Arrival:
    ticket: Ticket | None
    stay: RoomStay | None
    rescheduled: bool = False


async def arrive(session: AsyncSession, ticket_id: uuid.UUID) -> Arrival:
    """Complete a ticket whose arrival time has come and check its traveller in. Idempotent."""
    ticket = await repository.tickets.get(session, ticket_id, lock=True)
    if ticket is None or ticket.status is TicketStatus.CANCELLED:
        return Arrival(ticket, None)
    if ticket.status is TicketStatus.BOARDING:
        if ticket.arrival_datetime > utcnow():  # delivered early: ask again at arrival
            await complete_ticket.enqueue_at(
                session, ticket.arrival_datetime, ticket_id=str(ticket.id)
            )
            return Arrival(ticket, None, rescheduled=True)
        ticket.status, ticket.completed_at = TicketStatus.COMPLETED, utcnow()
    return Arrival(ticket, await check_in(session, ticket))


async def check_in(session: AsyncSession, ticket: Ticket) -> RoomStay:
    """The ticket's stay, creating it in a room with space (a new room if all are full)."""
    existing = await repository.stays.of_ticket(session, ticket.id)
    if existing is not None:
        return existing
    previous = await repository.stays.active_of(session, ticket.user_id, lock=True)
    if previous is not None:  # arriving somewhere new ends the stay where one was
        await check_out(session, previous)
    room = await _take_bed(session, await _guest_house(session, ticket.city_id))
    now = utcnow()
    stay = RoomStay(
        id=new_id(),
        user_id=ticket.user_id,
        room_id=room.id,
        ticket_id=ticket.id,
        status=StayStatus.CHECKED_IN,
        check_in_at=now,
        scheduled_check_out_at=now + STAY_LENGTH,
    )
    session.add(stay)
    await events.announce(session, _system_line(session, room.id, "A traveller checked in."))
    return stay


async def _guest_house(session: AsyncSession, city_id: uuid.UUID) -> GuestHouse:
    """The city's guesthouse, locked: check-ins into one guesthouse happen one at a time.
    (The advisory lock covers a city that has no guesthouse yet, so only one is created.)"""
    house = await repository.lock_guest_house(session, city_id)
    if house is None:
        house = GuestHouse(id=new_id(), city_id=city_id, name="Guesthouse")
        session.add(house)
        await session.flush()
    return house


async def _take_bed(session: AsyncSession, house: GuestHouse) -> Room:
    """Occupy a bed in the first room with space (a new room when all are full). The count
    moves in SQL, so a concurrent check-out's decrement is never lost."""
    room_id = await repository.room_with_space(session, house.id)
    if room_id is None:
        room_id = new_id()
        session.add(
            Room(id=room_id, guest_house_id=house.id, capacity=ROOM_CAPACITY, current_occupancy=0)
        )
        await session.flush()
    await repository.move_occupancy(session, room_id, +1)
    room = await session.get(Room, room_id, populate_existing=True)
    assert room is not None
    return room


# Stays


async def current_stay(session: AsyncSession, user: User, *, lock: bool = False) -> RoomStay:
    stay = await repository.stays.active_of(session, user.id, lock=lock)
    if stay is None:
        raise NotFound("You are not staying anywhere.", code="no_current_stay")
    return stay


async def stay_place(session: AsyncSession, stay: RoomStay) -> tuple[Room, GuestHouse]:
    room = await repository.rooms.get(session, stay.room_id)
    assert room is not None
    house = await repository.guest_houses.get(session, room.guest_house_id)
    assert house is not None
    return room, house


async def extend(session: AsyncSession, user: User) -> RoomStay:
    """Spend EXTEND points to push check-out back by a day."""
    stay = await current_stay(session, user, lock=True)
    extensions = round((stay.scheduled_check_out_at - stay.check_in_at) / STAY_LENGTH)
    await service.spend(
        session, user.id, EXTEND_COST, Reason.EXTEND,
        key=f"extend:{stay.id}:{extensions}", reference=("ROOM_STAY", stay.id),
    )  # fmt: skip
    stay.scheduled_check_out_at += STAY_LENGTH
    stay.status = StayStatus.EXTENDED
    await session.flush()
    return stay


async def check_out(session: AsyncSession, stay: RoomStay) -> RoomStay:
    """Leave now and free the bed (used by the API and by the sweep)."""
    stay.status, stay.actual_check_out_at = StayStatus.CHECKED_OUT, utcnow()
    await repository.move_occupancy(session, stay.room_id, -1)
    await events.announce(session, _system_line(session, stay.room_id, "A traveller checked out."))
    await events.end_membership(session, stay.room_id, stay.user_id)
    return stay


def _system_line(session: AsyncSession, room_id: uuid.UUID, content: str) -> ChatMessage:
    line = ChatMessage(
        id=new_id(), room_id=room_id, user_id=None, content=content, created_at=utcnow()
    )
    session.add(line)
    return line


async def room_members(
    session: AsyncSession, user: User, room_id: uuid.UUID
) -> Sequence[tuple[User, RoomStay]]:
    """Guests now in the room; only a guest of the room may look."""
    await require_member(session, user.id, room_id)
    return await repository.stays.guests(session, room_id)


async def require_member(session: AsyncSession, user_id: uuid.UUID, room_id: uuid.UUID) -> None:
    if not await repository.stays.is_member(session, user_id, room_id):
        raise Forbidden("Only guests of this room may do this.", code="not_a_member")


# The sweep


@dataclass(frozen=True)
class SweepReport:
    arrived: int
    checked_out: int


async def sweep(session: AsyncSession, *, batch: int = 200) -> SweepReport:
    """Repair what a lost message left undone: complete overdue tickets, end expired stays."""
    now = utcnow()
    overdue = await repository.tickets.lock_overdue_ids(session, now, batch)
    arrived = 0
    for ticket_id in overdue:
        arrived += await _isolated(session, arrive(session, ticket_id))
    expired = await repository.stays.lock_expired(session, now, batch)
    checked_out = 0
    for stay in expired:
        checked_out += await _isolated(session, check_out(session, stay))
    return SweepReport(arrived=arrived, checked_out=checked_out)


async def _isolated(session: AsyncSession, repair: Coroutine[Any, Any, object]) -> int:
    """Run one repair in a savepoint: a failure is logged and leaves the others done."""
    try:
        async with session.begin_nested():
            await repair
    except Exception:
        logger.exception("sweep: one repair failed; the next sweep tries it again")
        return 0
    return 1
