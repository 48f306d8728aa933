"""B0 HTTP and WebSocket routes: parse, authorize, call the use case, shape the response."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, WebSocket, status

from ensemble.apps.b0 import chat, journal, service, travel
from ensemble.apps.b0.auth import Caller, CurrentUser, UserRow, guest_of
from ensemble.apps.b0.models import RoomStay, TicketStatus, User
from ensemble.apps.b0.notices import message_payload, room_channel
from ensemble.apps.b0.schemas import (
    AirshipPublic,
    AnswerCreate,
    AnswerPublic,
    ChatMessagePublic,
    CityPublic,
    DiaryCreate,
    DiaryPublic,
    MemberPublic,
    PointTransactionPublic,
    QuestionPublic,
    RoomStayPublic,
    TicketCreate,
    TicketPublic,
    UserPublic,
    UserUpdate,
)
from ensemble.apps.b0.settings import B0Dep
from ensemble.kernel.db import SessionDep
from ensemble.kernel.errors import AppError
from ensemble.kernel.openapi import Responses, error_responses
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.realtime import CLOSE_FORBIDDEN, Lease, authenticate_principal, refuse
from ensemble.kernel.schemas import Extended

PREFIX = "/api/v1"
_DESCRIBED = {
    401: "Missing, expired or forged token",
    404: "Not found, or not yours; also when the caller has no user yet"
    " (`user_not_registered`: `POST /users` first)",
    422: "Invalid input (`validation_error`, `invalid_cursor`)",
}


def _errors(*errors: int | tuple[int, str]) -> Responses:
    """`responses=` for the error statuses a route can answer (see `_DESCRIBED`)."""
    return error_responses(*errors, described=_DESCRIBED)


_USER = (401, 404)
_USER_INPUT = (401, 404, 422)
_NOT_A_GUEST = (403, "Not a guest of this room (`not_a_member`)")
_SHORT = "Not enough points (`insufficient_points`)"
router = APIRouter(prefix=PREFIX)


# Shaping


async def _user(session: SessionDep, user: User) -> UserPublic:
    points = await service.balance(session, user.id)
    return UserPublic.model_validate(Extended(user, current_points=points))


async def _stay(session: SessionDep, stay: RoomStay) -> RoomStayPublic:
    room, house = await travel.stay_place(session, stay)
    return RoomStayPublic.model_validate(Extended(stay, room=room, guest_house=house))


# Users and points


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
    responses={
        200: {"model": UserPublic, "description": "The caller's user already exists"},
        **_errors(401),
    },
)
async def register(identity: Caller, session: SessionDep, response: Response) -> UserPublic:
    """Create the caller's user from the token (the sign-up bonus once); `200` if it exists."""
    user, created = await service.register(session, identity)
    if not created:
        response.status_code = status.HTTP_200_OK
    return await _user(session, user)


@router.get("/users/me", tags=["users"], responses=_errors(*_USER))
async def read_me(user: UserRow, session: SessionDep) -> UserPublic:
    return await _user(session, user)


@router.patch("/users/me", tags=["users"], responses=_errors(*_USER_INPUT))
async def update_me(body: UserUpdate, user: UserRow, session: SessionDep) -> UserPublic:
    """Set the nickname (2–10 characters) and the profile (one emoji)."""
    return await _user(session, await service.update_user(session, user, body))


@router.get("/points/transactions", tags=["points"], responses=_errors(*_USER_INPUT))
async def point_history(
    user: UserRow, session: SessionDep, page: PageDep
) -> Page[PointTransactionPublic]:
    """The caller's point history, newest first."""
    return (await service.point_history(session, user.id, page)).map(
        PointTransactionPublic.model_validate
    )


# Catalogue


@router.get("/cities", tags=["catalogue"], responses=_errors(*_USER_INPUT))
async def list_cities(_: CurrentUser, session: SessionDep, page: PageDep) -> Page[CityPublic]:
    return (await service.cities(session, page)).map(CityPublic.model_validate)


@router.get("/cities/{city_id}", tags=["catalogue"], responses=_errors(*_USER_INPUT))
async def read_city(city_id: uuid.UUID, _: CurrentUser, session: SessionDep) -> CityPublic:
    return CityPublic.model_validate(await service.city(session, city_id))


@router.get("/airships", tags=["catalogue"], responses=_errors(*_USER_INPUT))
async def list_airships(_: CurrentUser, session: SessionDep, page: PageDep) -> Page[AirshipPublic]:
    return (await service.airships(session, page)).map(AirshipPublic.model_validate)


# Tickets


@router.post(
    "/tickets",
    status_code=status.HTTP_201_CREATED,
    tags=["tickets"],
    responses=_errors(
        *_USER_INPUT,
        (409, f"{_SHORT}, or already travelling or staying (`active_trip_exists`)"),
    ),
)
async def buy_ticket(
    body: TicketCreate, user: UserRow, session: SessionDep, b0: B0Dep
) -> TicketPublic:
    """Spend the fare and board; the ticket completes by itself at arrival (`409` if short of
    points, `insufficient_points`, or already travelling, `active_trip_exists`)."""
    ticket = await travel.purchase(
        session, user, body.city_id, body.airship_id,
        max_active_trips=b0.settings.max_active_trips,
        flight_time_scale=b0.settings.flight_time_scale,
    )  # fmt: skip
    return TicketPublic.model_validate(ticket)


@router.get("/tickets", tags=["tickets"], responses=_errors(*_USER_INPUT))
async def list_tickets(
    user: UserRow, session: SessionDep, page: PageDep, status: TicketStatus | None = None
) -> Page[TicketPublic]:
    return (await travel.tickets(session, user, status, page)).map(TicketPublic.model_validate)


@router.get("/tickets/current", tags=["tickets"], responses=_errors(*_USER))
async def read_current_ticket(user: UserRow, session: SessionDep) -> TicketPublic:
    return TicketPublic.model_validate(await travel.current_ticket(session, user))


@router.get("/tickets/{ticket_id}", tags=["tickets"], responses=_errors(*_USER_INPUT))
async def read_ticket(ticket_id: uuid.UUID, user: UserRow, session: SessionDep) -> TicketPublic:
    return TicketPublic.model_validate(await travel.own_ticket(session, user, ticket_id))


@router.post(
    "/tickets/{ticket_id}/cancel",
    tags=["tickets"],
    responses=_errors(*_USER_INPUT, (409, "Not boarding (`ticket_not_cancellable`)")),
)
async def cancel_ticket(ticket_id: uuid.UUID, user: UserRow, session: SessionDep) -> TicketPublic:
    """Cancel while boarding; the fare comes back once."""
    return TicketPublic.model_validate(await travel.cancel(session, user, ticket_id))


# Stays and rooms


@router.get("/room-stays/current", tags=["stays"], responses=_errors(*_USER))
async def read_current_stay(user: UserRow, session: SessionDep) -> RoomStayPublic:
    return await _stay(session, await travel.current_stay(session, user))


@router.post("/room-stays/current/extend", tags=["stays"], responses=_errors(*_USER, (409, _SHORT)))
async def extend_stay(user: UserRow, session: SessionDep) -> RoomStayPublic:
    """Spend points to stay a day longer."""
    return await _stay(session, await travel.extend(session, user))


@router.post("/room-stays/current/check-out", tags=["stays"], responses=_errors(*_USER))
async def check_out(user: UserRow, session: SessionDep) -> RoomStayPublic:
    stay = await travel.current_stay(session, user, lock=True)
    return await _stay(session, await travel.check_out(session, stay))


@router.get(
    "/rooms/{room_id}/members", tags=["stays"], responses=_errors(*_USER_INPUT, _NOT_A_GUEST)
)
async def room_members(
    room_id: uuid.UUID, user: UserRow, session: SessionDep
) -> Page[MemberPublic]:
    members = await travel.room_members(session, user, room_id)
    items = [
        MemberPublic.model_validate(Extended(guest, check_in_at=stay.check_in_at))
        for guest, stay in members
    ]
    return Page[MemberPublic](items=items, next_cursor=None)


@router.get(
    "/rooms/{room_id}/messages", tags=["chat"], responses=_errors(*_USER_INPUT, _NOT_A_GUEST)
)
async def room_messages(
    room_id: uuid.UUID, user: UserRow, session: SessionDep, page: PageDep
) -> Page[ChatMessagePublic]:
    """The room's chat, newest first (members only)."""
    rows = await chat.history(session, user.id, room_id, page)
    return rows.map(lambda m: ChatMessagePublic.model_validate(message_payload(m)))


@router.websocket("/ws/rooms/{room_id}")
async def room_socket(websocket: WebSocket, room_id: uuid.UUID) -> None:
    """Room chat: send `{"content": "..."}`; receive every message and join/leave notices."""
    database, hub = websocket.state.database, websocket.state.hub
    guest = await authenticate_principal(websocket, guest_of)
    if guest is None:
        return
    user_id = guest.account_id
    async with database.unit_of_work() as session:
        member = await _is_member(session, user_id, room_id)
    if not member:
        await refuse(websocket, CLOSE_FORBIDDEN, "not_a_member")
        return
    try:
        lease = Lease.of_claims(guest.claims)  # the provider's token: its expiry
        channel = room_channel(room_id)
        async with hub.connection(channel, websocket, str(user_id), lease) as connection:
            await chat.announce(hub, room_id, "joined", user_id)
            async for incoming in connection.messages():
                content = incoming.get("content")
                if not chat.is_valid_content(content):
                    connection.send({"type": "error", "code": "invalid_message"})
                    continue
                try:
                    async with database.unit_of_work() as session:
                        message = await chat.post(session, user_id, room_id, content)
                except AppError as exc:
                    connection.close(CLOSE_FORBIDDEN, exc.code)
                    break
                await hub.publish(room_channel(room_id), message_payload(message))
    finally:  # also when the handler fails: the others learn the guest is gone
        await chat.announce(hub, room_id, "left", user_id)


async def _is_member(session: SessionDep, user_id: uuid.UUID, room_id: uuid.UUID) -> bool:
    try:
        await travel.require_member(session, user_id, room_id)
    except AppError:
        return False
    return True


# Diaries and questionnaires


@router.post(
    "/diaries",
    status_code=status.HTTP_201_CREATED,
    tags=["journal"],
    responses=_errors(*_USER_INPUT, (409, "Today's diary is written (`diary_exists`)")),
)
async def write_diary(
    body: DiaryCreate, user: UserRow, session: SessionDep, b0: B0Dep
) -> DiaryPublic:
    """Today's diary (one per local day); earns points once."""
    diary = await journal.write_diary(session, user, body, b0.settings.timezone)
    return DiaryPublic.model_validate(diary)


@router.get("/diaries", tags=["journal"], responses=_errors(*_USER_INPUT))
async def list_diaries(user: UserRow, session: SessionDep, page: PageDep) -> Page[DiaryPublic]:
    return (await journal.diaries(session, user, page)).map(DiaryPublic.model_validate)


@router.get("/diaries/{diary_id}", tags=["journal"], responses=_errors(*_USER_INPUT))
async def read_diary(diary_id: uuid.UUID, user: UserRow, session: SessionDep) -> DiaryPublic:
    return DiaryPublic.model_validate(await journal.diary(session, user, diary_id))


@router.get("/questionnaires", tags=["journal"], responses=_errors(*_USER))
async def list_questions(user: UserRow, session: SessionDep) -> Page[QuestionPublic]:
    items = [
        QuestionPublic.model_validate(Extended(question, my_answer=answer))
        for question, answer in await journal.questions(session, user)
    ]
    return Page[QuestionPublic](items=items, next_cursor=None)


@router.post(
    "/questionnaires/{question_id}/answer",
    status_code=status.HTTP_201_CREATED,
    tags=["journal"],
    responses=_errors(*_USER_INPUT, (409, "Answered before (`already_answered`)")),
)
async def answer_question(
    question_id: uuid.UUID, body: AnswerCreate, user: UserRow, session: SessionDep
) -> AnswerPublic:
    """Answer once; earns points once."""
    return AnswerPublic.model_validate(await journal.answer(session, user, question_id, body))


routers = [router]
