"""B0 catalogue, ticket and stay routes: parse, authorize, call the use case, shape the response."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from ensemble.apps.b0.auth import CurrentUser, UserRow
from ensemble.apps.b0.models import RoomStay, TicketStatus
from ensemble.apps.b0.schemas import (
    NOT_A_GUEST,
    PREFIX,
    USER,
    USER_INPUT,
    AirshipPublic,
    CityPublic,
    MemberPublic,
    RoomStayPublic,
    TicketCreate,
    TicketPublic,
    errors,
)
from ensemble.apps.b0.settings import B0Dep
from ensemble.apps.b0.travel import service
from ensemble.kernel.db import SessionDep
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.schemas import Extended

_SHORT = "Not enough points (`insufficient_points`)"

router = APIRouter(prefix=PREFIX)


async def _stay(session: SessionDep, stay: RoomStay) -> RoomStayPublic:
    room, house = await service.stay_place(session, stay)
    return RoomStayPublic.model_validate(Extended(stay, room=room, guest_house=house))


@router.get("/cities", tags=["catalogue"], responses=errors(*USER_INPUT))
async def list_cities(_: CurrentUser, session: SessionDep, page: PageDep) -> Page[CityPublic]:
    return (await service.cities(session, page)).map(CityPublic.model_validate)


@router.get("/cities/{city_id}", tags=["catalogue"], responses=errors(*USER_INPUT))
async def read_city(city_id: uuid.UUID, _: CurrentUser, session: SessionDep) -> CityPublic:
    return CityPublic.model_validate(await service.city(session, city_id))


@router.get("/airships", tags=["catalogue"], responses=errors(*USER_INPUT))
async def list_airships(_: CurrentUser, session: SessionDep, page: PageDep) -> Page[AirshipPublic]:
    return (await service.airships(session, page)).map(AirshipPublic.model_validate)


@router.post(
    "/tickets",
    status_code=status.HTTP_201_CREATED,
    tags=["tickets"],
    responses=errors(
        *USER_INPUT,
        (409, f"{_SHORT}, or already travelling or staying (`active_trip_exists`)"),
    ),
)
async def buy_ticket(
    body: TicketCreate, user: CurrentUser, session: SessionDep, b0: B0Dep
) -> TicketPublic:
    """Spend the fare and board; the ticket completes by itself at arrival (`409` if short of
    points, `insufficient_points`, or already travelling, `active_trip_exists`)."""
    ticket = await service.purchase(
        session, user.account_id, body.city_id, body.airship_id,
        max_active_trips=b0.settings.max_active_trips,
        flight_time_scale=b0.settings.flight_time_scale,
    )  # fmt: skip
    return TicketPublic.model_validate(ticket)


@router.get("/tickets", tags=["tickets"], responses=errors(*USER_INPUT))
async def list_tickets(
    user: UserRow, session: SessionDep, page: PageDep, status: TicketStatus | None = None
) -> Page[TicketPublic]:
    return (await service.tickets(session, user, status, page)).map(TicketPublic.model_validate)


@router.get("/tickets/current", tags=["tickets"], responses=errors(*USER))
async def read_current_ticket(user: UserRow, session: SessionDep) -> TicketPublic:
    return TicketPublic.model_validate(await service.current_ticket(session, user))


@router.get("/tickets/{ticket_id}", tags=["tickets"], responses=errors(*USER_INPUT))
async def read_ticket(ticket_id: uuid.UUID, user: UserRow, session: SessionDep) -> TicketPublic:
    return TicketPublic.model_validate(await service.own_ticket(session, user, ticket_id))


@router.post(
    "/tickets/{ticket_id}/cancel",
    tags=["tickets"],
    responses=errors(*USER_INPUT, (409, "Not boarding (`ticket_not_cancellable`)")),
)
async def cancel_ticket(ticket_id: uuid.UUID, user: UserRow, session: SessionDep) -> TicketPublic:
    """Cancel while boarding; the fare comes back once."""
    return TicketPublic.model_validate(await service.cancel(session, user, ticket_id))


@router.get("/room-stays/current", tags=["stays"], responses=errors(*USER))
async def read_current_stay(user: UserRow, session: SessionDep) -> RoomStayPublic:
    return await _stay(session, await service.current_stay(session, user))


@router.post("/room-stays/current/extend", tags=["stays"], responses=errors(*USER, (409, _SHORT)))
async def extend_stay(user: UserRow, session: SessionDep) -> RoomStayPublic:
    """Spend points to stay a day longer."""
    return await _stay(session, await service.extend(session, user))


@router.post("/room-stays/current/check-out", tags=["stays"], responses=errors(*USER))
async def check_out(user: UserRow, session: SessionDep) -> RoomStayPublic:
    stay = await service.current_stay(session, user, lock=True)
    return await _stay(session, await service.check_out(session, stay))


@router.get("/rooms/{room_id}/members", tags=["stays"], responses=errors(*USER_INPUT, NOT_A_GUEST))
async def room_members(
    room_id: uuid.UUID, user: UserRow, session: SessionDep
) -> Page[MemberPublic]:
    members = await service.room_members(session, user, room_id)
    items = [
        MemberPublic.model_validate(Extended(guest, check_in_at=stay.check_in_at))
        for guest, stay in members
    ]
    return Page[MemberPublic](items=items, next_cursor=None)
