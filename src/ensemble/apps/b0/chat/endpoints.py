"""B0 room chat routes: parse, authorize, call the use case, shape the response."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, WebSocket

from ensemble.apps.b0.auth import CurrentUser, guest_of
from ensemble.apps.b0.chat import service
from ensemble.apps.b0.events import message_payload, room_channel
from ensemble.apps.b0.schemas import NOT_A_GUEST, PREFIX, USER_INPUT, ChatMessagePublic, errors
from ensemble.apps.b0.travel.service import require_member
from ensemble.kernel.db import SessionDep
from ensemble.kernel.errors import AppError
from ensemble.kernel.pagination import Page, PageDep
from ensemble.kernel.realtime import CLOSE_FORBIDDEN, Lease, authenticate_principal, refuse

router = APIRouter(prefix=PREFIX, tags=["chat"])


@router.get("/rooms/{room_id}/messages", responses=errors(*USER_INPUT, NOT_A_GUEST))
async def room_messages(
    room_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ChatMessagePublic]:
    """The room's chat, newest first (members only)."""
    rows = await service.history(session, user.account_id, room_id, page)
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
            await service.announce(hub, room_id, "joined", user_id)
            async for incoming in connection.messages():
                content = incoming.get("content")
                if not service.is_valid_content(content):
                    connection.send({"type": "error", "code": "invalid_message"})
                    continue
                try:
                    async with database.unit_of_work() as session:
                        message = await service.post(session, user_id, room_id, content)
                except AppError as exc:
                    connection.close(CLOSE_FORBIDDEN, exc.code)
                    break
                await hub.publish(room_channel(room_id), message_payload(message))
    finally:  # also when the handler fails: the others learn the guest is gone
        await service.announce(hub, room_id, "left", user_id)


async def _is_member(session: SessionDep, user_id: uuid.UUID, room_id: uuid.UUID) -> bool:
    try:
        await require_member(session, user_id, room_id)
    except AppError:
        return False
    return True
